//! Keyless primitives: functions evaluated under bytes that a token carries,
//! so the server halves of the schemes can use them without ever holding a
//! long-term key.
//!
//! - [`prf`]: HMAC-SHA256 and AES-based PRFs with domain separation, and the
//!   encoding of id blocks inside entry values.
//! - [`ggm`]: the GGM tree expansion Diana's tokens use.

pub mod ggm;
pub mod prf;
