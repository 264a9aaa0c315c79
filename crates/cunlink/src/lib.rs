//! The cunlink binary's library half: command line, server wiring and the demo
//! village. Integration tests start the server in-process through [`app::start`].

pub mod app;
pub mod backup;
pub mod cli;
pub mod cli_school;
pub mod demo;
pub mod demo_alert;
pub mod demo_clinic;
pub mod demo_market;
pub mod demo_school;
pub mod memory;
