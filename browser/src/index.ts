export { RemoteFramebufferView } from "./view";
export type { RemoteFramebufferViewOptions, Fit, State, Stats, TransportKind } from "./view";
export { CloseCode } from "./close-codes";
export type { AudioPlayer, AudioState, AudioStats } from "./audio";
export type { Microphone, MicrophoneState, MicrophoneStats } from "./microphone";
