/** Public surface of the RTSP connector; everything else in this folder is internal. */
export { RtspCameraSource, type RtspCameraSourceConfig, type RtspSourceCounters, type OfflineReason } from './source.js';
export { RtspClient, RtspStatusError, type RtspClientOptions, type RtspSessionInfo } from './client.js';
export { H264Depacketizer, newDepacketizerCounters, type H264AccessUnit, type DepacketizerCounters, type H264DepacketizerOptions } from './h264-depacketizer.js';
export { KeyframeSampler } from './sampler.js';
export { parseSdp, resolveControl, type SdpMedia, type SessionDescription } from './sdp.js';
export { Authenticator, basicAuthorization, digestAuthorization, digestResponse, parseChallenges, pickChallenge, credentialsFromUrl, type AuthChallenge, type DigestInput } from './auth.js';
