import { Codec, CodecContext, FFmpegError, Frame, Log, Packet, SoftwareScaleContext } from 'node-av';
import {
  AVERROR_EAGAIN,
  AV_CODEC_ID_H264,
  AV_CODEC_ID_HEVC,
  AV_LOG_QUIET,
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
  /** The scaler's output frame for the current geometry (8-bit G, B, R planes) and views of its planes. */
  private out: { frame: Frame; planes: Buffer[]; stride: number } | null = null;

  constructor(
    readonly codec: VideoCodec,
    readonly size = 416,
  ) {
    quietFfmpeg();
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
   * Decodes one keyframe access unit straight into a planar BGR float32 [1,3,size,size] letterbox tensor
   * (top-left, pad 114). One bicubic sws pass converts colour and resizes into 8-bit planes (GBRP) of a frame
   * allocated once per geometry; each plane becomes floats with one native typed-array copy per plane or row.
   */
  decodeToTensor(data: Uint8Array, tensor: Float32Array): LetterboxGeometry {
    const size = this.size;
    const plane = size * size;
    if (tensor.length < 3 * plane) throw new RangeError('decodeToTensor: tensor too small');
    const g = this.decode(data);
    const { width: w, height: h } = g;
    const planes = this.out!.planes;
    const stride = this.out!.stride;
    // GBRP plane order is G, B, R; the tensor's is B, G, R.
    for (let c = 0; c < 3; c++) {
      const p = planes[c === 0 ? 1 : c === 1 ? 0 : 2];
      const base = c * plane;
      if (w === size && stride === w) {
        tensor.set(p.subarray(0, w * h), base);
      } else {
        for (let y = 0; y < h; y++) {
          const o = base + y * size;
          const s0 = y * stride;
          for (let x = 0; x < w; x++) tensor[o + x] = p[s0 + x];
          tensor.fill(LETTERBOX_PAD, o + w, o + size);
        }
      }
      tensor.fill(LETTERBOX_PAD, base + h * size, base + plane);
    }
    return g;
  }

  private decode(data: Uint8Array): LetterboxGeometry {
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
      const geometry = letterboxGeometry(frame.width, frame.height, this.size);
      const sws = this.scaler(frame.width, frame.height, frame.format as number, geometry);
      // Scales into the frame allocated for this geometry: its plane views stay valid, and nothing per frame
      // goes through Frame.data (whose Buffers cost ~40 KB of native memory per call, never returned).
      const h = sws.scaleFrameSync(this.out!.frame, frame);
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
    this.out?.frame.free();
    this.out = null;
    this.frame.free();
    this.packet.free();
    this.ctx.freeContext();
  }

  private scaler(w: number, h: number, format: number, g: LetterboxGeometry): SoftwareScaleContext {
    const key = `${w}x${h}:${format}`;
    if (this.sws && this.swsKey === key) return this.sws;
    this.sws?.freeContext();
    this.sws = null;
    this.out?.frame.free();
    this.out = null;
    const sws = new SoftwareScaleContext();
    sws.allocContext();
    sws.getContext(
      w,
      h,
      format as Parameters<SoftwareScaleContext['getContext']>[2],
      g.width,
      g.height,
      AV_PIX_FMT_GBRP,
      SWS_BICUBIC,
    );
    const ret = sws.initContext();
    if (ret < 0) {
      sws.freeContext();
      throw new KuzetError(
        'KUZET_ERR_DECODE',
        `Cannot scale ${w}x${h} pixel format ${format} to planar GBR: ${FFmpegError.strerror(ret)}`,
      );
    }
    const frame = new Frame();
    frame.alloc();
    frame.width = g.width;
    frame.height = g.height;
    frame.format = AV_PIX_FMT_GBRP;
    const alloc = frame.getBuffer(1);
    const planes = alloc < 0 ? null : frame.data;
    if (!planes || planes.length < 3) {
      frame.free();
      sws.freeContext();
      throw new KuzetError('KUZET_ERR_DECODE', `Cannot allocate a ${g.width}x${g.height} planar frame`);
    }
    this.out = { frame, planes, stride: frame.linesize[0] };
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
