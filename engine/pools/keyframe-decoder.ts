import { Codec, CodecContext, FFmpegError, Frame, Log, Packet, SoftwareScaleContext } from 'node-av';
import {
  AVERROR_EAGAIN,
  AV_CODEC_ID_H264,
  AV_CODEC_ID_HEVC,
  AV_LOG_QUIET,
  AV_PIX_FMT_BGR24,
  AV_PIX_FMT_GBRP,
  SWS_BICUBIC,
} from 'node-av/constants';
import { LETTERBOX_PAD, letterboxGeometry, type LetterboxGeometry } from '../../detectors/letterbox.js';
import { KuzetError } from '../errors.js';
import type { VideoCodec } from '../types.js';
import { describeAccessUnit } from './annexb.js';

// FFmpeg writes its own complaints about corrupt input to stderr, once per bad slice. Every failure already
// surfaces as a KuzetError with the reason, so per-frame native logging would only bypass the structured log.
let quieted = false;
function quietFfmpeg(): void {
  if (quieted) return;
  Log.setLevel(AV_LOG_QUIET);
  quieted = true;
}

/**
 * One camera's keyframe decoder (node-av, in-process FFmpeg). Each access unit is an independent keyframe,
 * so the context is drained and reset after every picture; it is kept per camera only to avoid re-opening
 * the codec and re-building the scaler for every sample.
 */
export class KeyframeDecoder {
  private readonly ctx = new CodecContext();
  private readonly packet = new Packet();
  private readonly frame = new Frame();
  private sws: SoftwareScaleContext | null = null;
  private swsKey = '';
  private closed = false;
  /** 8-bit G, B, R planes the scaler writes for decodeToTensor, reused for every frame. */
  private readonly gbrp: Buffer[];

  constructor(
    readonly codec: VideoCodec,
    readonly size = 416,
  ) {
    quietFfmpeg();
    this.gbrp = [0, 1, 2].map(() => Buffer.alloc(size * size));
    const found = Codec.findDecoder(codec === 'h264' ? AV_CODEC_ID_H264 : AV_CODEC_ID_HEVC);
    if (!found)
      throw new KuzetError('KUZET_ERR_DECODE', `No ${codec} decoder in this FFmpeg build (node-av)`);
    this.ctx.allocContext3(found);
    // One thread per decoder: the pool's workers are the parallelism, and frame threading would delay output.
    this.ctx.threadCount = 1;
    const ret = this.ctx.open2Sync(found, null);
    if (ret < 0)
      throw new KuzetError('KUZET_ERR_DECODE', `Cannot open ${codec} decoder: ${FFmpegError.strerror(ret)}`);
    this.packet.alloc();
    this.frame.alloc();
  }

  /**
   * Decodes one keyframe access unit and scales it, bicubic, straight to its letterbox size as packed BGR24
   * into `dst` (row stride = geometry.width * 3). One sws pass does colour conversion and resize together.
   */
  decodeToBgr(data: Uint8Array, dst: Buffer): LetterboxGeometry {
    return this.decode(data, AV_PIX_FMT_BGR24, (sws, frame, g) => {
      if (dst.length < g.width * g.height * 3)
        throw new RangeError('decodeToBgr: destination buffer too small');
      return sws.scaleSync(frame.data!, frame.linesize, 0, frame.height, [dst], [g.width * 3]);
    });
  }

  /**
   * Decodes one keyframe access unit straight into a planar BGR float32 [1,3,size,size] letterbox tensor
   * (top-left, pad 114). The scaler writes 8-bit planes (GBRP, same bicubic pass as decodeToBgr) and each
   * plane becomes floats with one native typed-array copy per plane or row, not a per-pixel JS loop.
   */
  decodeToTensor(data: Uint8Array, tensor: Float32Array): LetterboxGeometry {
    const size = this.size;
    const plane = size * size;
    if (tensor.length < 3 * plane) throw new RangeError('decodeToTensor: tensor too small');
    const g = this.decode(data, AV_PIX_FMT_GBRP, (sws, frame, geom) =>
      sws.scaleSync(frame.data!, frame.linesize, 0, frame.height, this.gbrp, [
        geom.width,
        geom.width,
        geom.width,
      ]),
    );
    const { width: w, height: h } = g;
    // GBRP plane order is G, B, R; the tensor's is B, G, R.
    const src = [this.gbrp[1], this.gbrp[0], this.gbrp[2]];
    for (let c = 0; c < 3; c++) {
      const p = src[c];
      const base = c * plane;
      if (w === size) {
        tensor.set(p.subarray(0, w * h), base);
      } else {
        for (let y = 0; y < h; y++) {
          const o = base + y * size;
          const s0 = y * w;
          for (let x = 0; x < w; x++) tensor[o + x] = p[s0 + x];
          tensor.fill(LETTERBOX_PAD, o + w, o + size);
        }
      }
      tensor.fill(LETTERBOX_PAD, base + h * size, base + plane);
    }
    return g;
  }

  private decode(
    data: Uint8Array,
    format: number,
    scale: (sws: SoftwareScaleContext, frame: Frame, g: LetterboxGeometry) => number,
  ): LetterboxGeometry {
    if (this.closed) throw new KuzetError('KUZET_ERR_DECODE', 'Keyframe decoder used after close');
    const au = describeAccessUnit(data, this.codec);
    if (!au.keyframe) {
      throw new KuzetError(
        'KUZET_ERR_DECODE',
        `Not a ${this.codec} keyframe access unit (${data.byteLength} bytes, ${au.summary}); the sampler must send IDR/IRAP access units with parameter sets`,
      );
    }
    const { ctx, packet, frame } = this;
    try {
      packet.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      let ret = ctx.sendPacketSync(packet);
      if (ret < 0) throw this.fail(`decoder refused the access unit: ${FFmpegError.strerror(ret)}`, data);
      ret = ctx.receiveFrameSync(frame);
      if (ret === AVERROR_EAGAIN) {
        // Stream declares reordering delay: drain to get the picture out now.
        ctx.sendPacketSync(null);
        ret = ctx.receiveFrameSync(frame);
      }
      if (ret < 0)
        throw this.fail(
          `no picture decoded (${FFmpegError.strerror(ret)}; missing SPS/PPS or corrupt slice data?)`,
          data,
        );
      if (frame.decodeErrorFlags !== 0) {
        throw this.fail(
          `picture decoded with errors (flags ${frame.decodeErrorFlags}: corrupt or truncated bitstream)`,
          data,
        );
      }
      if (!frame.data) throw this.fail('decoded frame has no data planes', data);
      const geometry = letterboxGeometry(frame.width, frame.height, this.size);
      const sws = this.scaler(frame.width, frame.height, frame.format as number, geometry, format);
      const h = scale(sws, frame, geometry);
      if (h !== geometry.height)
        throw this.fail(`scaler produced ${h} rows, expected ${geometry.height}`, data);
      return geometry;
    } finally {
      frame.unref();
      packet.unref();
      // Keyframes only: nothing carries over, and a drained or errored context must be reset before reuse.
      ctx.flushBuffers();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sws?.freeContext();
    this.frame.free();
    this.packet.free();
    this.ctx.freeContext();
  }

  private scaler(
    w: number,
    h: number,
    format: number,
    g: LetterboxGeometry,
    outFormat: number,
  ): SoftwareScaleContext {
    const key = `${w}x${h}:${format}>${outFormat}`;
    if (this.sws && this.swsKey === key) return this.sws;
    this.sws?.freeContext();
    this.sws = null;
    const sws = new SoftwareScaleContext();
    sws.allocContext();
    sws.getContext(
      w,
      h,
      format as Parameters<SoftwareScaleContext['getContext']>[2],
      g.width,
      g.height,
      outFormat as Parameters<SoftwareScaleContext['getContext']>[5],
      SWS_BICUBIC,
    );
    const ret = sws.initContext();
    if (ret < 0) {
      sws.freeContext();
      throw new KuzetError(
        'KUZET_ERR_DECODE',
        `Cannot scale ${w}x${h} pixel format ${format} to ${outFormat}: ${FFmpegError.strerror(ret)}`,
      );
    }
    this.sws = sws;
    this.swsKey = key;
    return sws;
  }

  private fail(reason: string, data: Uint8Array): KuzetError {
    return new KuzetError(
      'KUZET_ERR_DECODE',
      `${this.codec} keyframe decode failed (${data.byteLength} bytes): ${reason}`,
    );
  }
}
