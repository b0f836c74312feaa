//! Tests of keycard-resource against a mock authorization server on loopback.
#![allow(dead_code)]

mod common;
mod introspection;
mod jwt;

#[cfg(feature = "axum")]
mod axum_ext;
