//! Every declared leakage profile in one list, for reports: read from the
//! scheme registry, the blind index and the client-only baselines.

use crate::leakage_terms::Profile;

/// The declared profiles of every scheme variant, for reports: every SSE
/// variant of the registry, the blind index at rest and queried, and the
/// client-only baselines.
pub fn profiles() -> Vec<Profile> {
    let sse = crate::sse::registry::VARIANTS.iter().map(|v| v.profile);
    sse.chain([
        crate::blind::leakage::AT_REST,
        crate::blind::leakage::QUERIED,
        crate::baseline::leakage::DOWNLOAD_ALL,
        crate::baseline::leakage::LOCAL_INDEX,
    ])
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_is_named_once_and_prints() {
        let ps = profiles();
        let mut names: Vec<&str> = ps.iter().map(|p| p.scheme).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ps.len());
        for p in &ps {
            assert!(p.to_string().starts_with(p.scheme));
        }
    }
}
