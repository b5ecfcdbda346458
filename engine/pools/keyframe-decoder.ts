import { Codec, CodecContext, FFmpegError, Frame, Log, Packet, SoftwareScaleContext } from 'node-av';
import {
  AVERROR_EAGAIN,
  AV_CODEC_ID_H264,
  AV_CODEC_ID_HEVC,
  AV_LOG_QUIET,
  AV_PIX_FMT_BGR24,
  SWS_BICUBIC,
} from 'node-av/constants';
import { letterboxGeometry, type LetterboxGeometry } from '../../detectors/letterbox.js';
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
   * Decodes one keyframe access unit and scales it, bicubic, straight to its letterbox size as packed BGR24
   * into `dst` (row stride = geometry.width * 3). One sws pass does colour conversion and resize together.
   */
  decodeToBgr(data: Uint8Array, dst: Buffer): LetterboxGeometry {
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
      const planes = frame.data;
      if (!planes) throw this.fail('decoded frame has no data planes', data);
      if (dst.length < geometry.width * geometry.height * 3)
        throw new RangeError('decodeToBgr: destination buffer too small');
      const h = sws.scaleSync(planes, frame.linesize, 0, frame.height, [dst], [geometry.width * 3]);
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

  private scaler(w: number, h: number, format: number, g: LetterboxGeometry): SoftwareScaleContext {
    const key = `${w}x${h}:${format}`;
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
      AV_PIX_FMT_BGR24,
      SWS_BICUBIC,
    );
    const ret = sws.initContext();
    if (ret < 0) {
      sws.freeContext();
      throw new KuzetError(
        'KUZET_ERR_DECODE',
        `Cannot scale ${w}x${h} pixel format ${format} to BGR24: ${FFmpegError.strerror(ret)}`,
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
