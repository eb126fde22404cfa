//! Patchline's wire contract: the JSON types of the HTTP API, the route
//! paths, and a typed async client.
//!
//! The server implements exactly these routes with these bodies; the agent,
//! the CLI and the load generator talk to it only through [`Client`]. Keeping
//! both sides on one set of types is what keeps them in step. Every request
//! body rejects unknown fields, so a typo is a 400, not a silently ignored key.
//! Domain values (OS info, packages, updates, baselines, compliance counts)
//! are the core's own types, serialised as the core defines them.

pub mod audit;
pub mod auth;
pub mod baselines;
pub mod checkin;
pub mod client;
pub mod compliance;
pub mod enrolment;
pub mod error;
pub mod executions;
pub mod governance;
pub mod groups;
pub mod nodes;
pub mod routes;
pub mod windows;

pub use client::{Client, ClientError};
pub use error::ErrorBody;
