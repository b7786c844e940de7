//! The CLI's parts: its grammar ([`args`]) and its commands ([`commands`]).

pub mod args;
pub mod commands;
