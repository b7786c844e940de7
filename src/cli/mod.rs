//! The CLI's parts: its grammar ([`args`]) and its commands ([`commands`];
//! `search`'s in [`search`]).

pub mod args;
pub mod commands;
pub mod search;
