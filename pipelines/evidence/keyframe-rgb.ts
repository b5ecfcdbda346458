import { Codec, CodecContext, FFmpegError, Frame, Log, Packet, SoftwareScaleContext } from 'node-av';
import {
  AVERROR_EAGAIN,
  AV_CODEC_ID_H264,
  AV_CODEC_ID_HEVC,
  AV_LOG_QUIET,
  AV_PIX_FMT_RGB24,
  SWS_ACCURATE_RND,
  SWS_BICUBIC,
  type SwsFlags,
} from 'node-av/constants';
import { KuzetError } from '../../engine/errors.js';
import { describeAccessUnit } from '../../engine/pools/annexb.js';

/** One decoded picture at its source resolution: packed 8-bit RGB, rows `width * 3` bytes, no padding. */
export interface RgbPicture {
  data: Buffer;
  width: number;
  height: number;
}

let quieted = false;
function quietFfmpeg(): void {
  // Same reason as the decode pool: failures surface as KuzetErrors, FFmpeg's own stderr lines would bypass the log.
  if (quieted) return;
  Log.setLevel(AV_LOG_QUIET);
  quieted = true;
}

/**
 * Decodes one H.264/H.265 keyframe access unit (parameter sets included) to packed RGB at full source
 * resolution, with node-av's async calls so the event loop is free while FFmpeg works.
 *
 * Not the pool's `KeyframeDecoder`: that one is synchronous (it runs in a worker) and produces a letterboxed
 * float tensor at the detector's size, while evidence needs every source pixel once per alarm. Alarms are rare,
 * so a context is opened per call and nothing is kept between calls: no per-camera native memory, and
 * concurrent renders never share a context.
 */
export async function decodeKeyframeRgb(data: Uint8Array, codec: 'h264' | 'h265'): Promise<RgbPicture> {
  quietFfmpeg();
  const au = describeAccessUnit(data, codec);
  if (!au.keyframe) {
    throw new KuzetError(
      'KUZET_ERR_DECODE',
      `Evidence frame is not a ${codec} keyframe access unit (${data.byteLength} bytes, ${au.summary})`,
    );
  }
  const found = Codec.findDecoder(codec === 'h264' ? AV_CODEC_ID_H264 : AV_CODEC_ID_HEVC);
  if (!found) throw new KuzetError('KUZET_ERR_DECODE', `No ${codec} decoder in this FFmpeg build (node-av)`);
  const fail = (reason: string) =>
    new KuzetError(
      'KUZET_ERR_DECODE',
      `Evidence ${codec} decode failed (${data.byteLength} bytes): ${reason}`,
    );

  const ctx = new CodecContext();
  const packet = new Packet();
  const frame = new Frame();
  const rgb = new Frame();
  let sws: SoftwareScaleContext | null = null;
  try {
    ctx.allocContext3(found);
    // Frame threads would be spawned and joined for one picture; one thread decodes a keyframe in milliseconds.
    ctx.threadCount = 1;
    let ret = await ctx.open2(found, null);
    if (ret < 0) throw fail(`cannot open decoder: ${FFmpegError.strerror(ret)}`);
    packet.alloc();
    frame.alloc();
    packet.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    ret = await ctx.sendPacket(packet);
    if (ret < 0) throw fail(`decoder refused the access unit: ${FFmpegError.strerror(ret)}`);
    ret = await ctx.receiveFrame(frame);
    if (ret === AVERROR_EAGAIN) {
      // A stream that declares reordering delay holds the picture back until drained.
      await ctx.sendPacket(null);
      ret = await ctx.receiveFrame(frame);
    }
    if (ret < 0) throw fail(`no picture decoded (${FFmpegError.strerror(ret)})`);
    if (frame.decodeErrorFlags !== 0)
      throw fail(`picture decoded with errors (flags ${frame.decodeErrorFlags})`);

    const { width, height } = frame;
    sws = new SoftwareScaleContext();
    sws.allocContext();
    sws.getContext(
      width,
      height,
      frame.format as Parameters<SoftwareScaleContext['getContext']>[2],
      width,
      height,
      AV_PIX_FMT_RGB24,
      // Accurate rounding: evidence is compared with what other tools decode; speed hardly matters here.
      (SWS_BICUBIC | SWS_ACCURATE_RND) as SwsFlags,
    );
    ret = sws.initContext();
    if (ret < 0)
      throw fail(`cannot convert pixel format ${frame.format} to RGB: ${FFmpegError.strerror(ret)}`);
    rgb.alloc();
    rgb.width = width;
    rgb.height = height;
    rgb.format = AV_PIX_FMT_RGB24;
    ret = rgb.getBuffer(1);
    if (ret < 0) throw fail(`cannot allocate a ${width}x${height} RGB frame: ${FFmpegError.strerror(ret)}`);
    ret = await sws.scaleFrame(rgb, frame);
    if (ret !== height) throw fail(`colour conversion produced ${ret} rows, expected ${height}`);
    // toBuffer packs the rows without padding, which is the layout sharp's raw input expects.
    const out = rgb.toBuffer();
    if (out.byteLength !== width * height * 3)
      throw fail(`RGB picture is ${out.byteLength} bytes, expected ${width * height * 3}`);
    return { data: out, width, height };
  } finally {
    sws?.freeContext();
    rgb.free();
    frame.free();
    packet.free();
    ctx.freeContext();
  }
}
