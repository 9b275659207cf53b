//! Heketi's `qsh` claim: a JWT is bound to one request by the hash of its
//! method and path. Servers check it and clients sign it, so it is part of
//! the wire protocol.

use sha2::{Digest, Sha256};

/// `hex(sha256(METHOD + "&" + PATH))`.
pub fn qsh(method: &str, path: &str) -> String {
    hex::encode(Sha256::digest(format!("{method}&{path}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qsh_matches_reference_vectors() {
        assert_eq!(
            qsh("GET", "/clusters"),
            "4749a59de87c27c9b2f495c5f1309b2525681dfe30c8a7b83625901b132a9c26"
        );
        assert_eq!(
            qsh("POST", "/volumes"),
            "3a9831a9908924e3f78fe948585f41849e92724522f5153cb91aff7f8ea48eac"
        );
    }
}
