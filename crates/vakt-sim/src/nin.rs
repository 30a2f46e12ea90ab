//! Norwegian national identity numbers: see [`vakt_core::nin`] (kept here so
//! the simulator's users find them where they always were).

pub use vakt_core::nin::*;
