/** Public surface of the RTSP connector; everything else in this folder is internal. */
export {
  RtspCameraSource,
  type RtspCameraSourceConfig,
  type RtspSourceCounters,
  type OfflineReason,
} from './source.js';
export { RtspClient, RtspStatusError, type RtspClientOptions, type RtspSessionInfo } from './client.js';
export {
  H264Depacketizer,
  newDepacketizerCounters,
  type H264AccessUnit,
  type DepacketizerCounters,
  type H264DepacketizerOptions,
} from './h264-depacketizer.js';
export { KeyframeSampler, createSampler, type Sampler, type SamplingPolicy } from './sampler.js';
export { parseSdp, resolveControl, type SdpMedia, type SessionDescription } from './sdp.js';
export {
  Authenticator,
  basicAuthorization,
  digestAuthorization,
  digestResponse,
  parseChallenges,
  pickChallenge,
  credentialsFromUrl,
  type AuthChallenge,
  type DigestInput,
} from './auth.js';
export { H265Depacketizer, type H265AccessUnit, type H265DepacketizerOptions } from './h265-depacketizer.js';
export { UnsupportedCodecError, type RtspTransport } from './client.js';
export { depacketizerFor, type Depacketizer } from './source.js';
export { RtpReceiverStats } from './rtcp.js';
export { parseH264Sps, parseH265Sps, type SpsInfo } from './sps.js';
export {
  probeCamera,
  ProbeError,
  PROBE_EXIT_CODES,
  redactUrl,
  type ProbeOptions,
  type ProbeResult,
  type ProbeFailureKind,
} from './probe.js';
