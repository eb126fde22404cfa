//! Support shared by the integration tests: test databases on both
//! backends ([`db`]) and a real server over TLS with clients ([`server`]).
#![allow(dead_code)]

pub mod db;
pub mod orchestration;
pub mod roots;
pub mod server;
