// The protocol version this build speaks. Frames with another major version are refused with
// `unsupported_version`; see docs/protocol.md, "Versioning".
export const PROTOCOL_VERSION = 1;
