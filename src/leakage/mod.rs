//! Leakage analysis: what the server sees, what each scheme declares it
//! leaks, checks that it leaks no more, and attacks that measure what the
//! leakage gives away.
//!
//! - [`view`]: the [`ServerView`] transcript recorded at the client/server
//!   boundary, saved and loaded as JSON lines, and its canonical form.
//! - [`observe`]: per-query leakage (search pattern, access pattern, result
//!   length, volume) read off a view, the input of the attacks.
//! - [`attacks`]: leakage-abuse attacks on views plus stated auxiliary knowledge.

pub mod attacks;
pub mod controls;
pub mod countermeasure;
pub mod declared;
pub mod experiment;
pub mod forward;
pub mod models;
pub mod observe;
pub mod profile;
pub mod report;
pub mod view;

pub use view::{Recorder, ServerView};
