//! The one list of SSE schemes and the variants the tools run.
//!
//! Every tool reads the schemes from here: the server checks a descriptor's
//! scheme with [`Scheme::parse`] and dispatches on it (`super::server`), the
//! client opens a scheme's client half by it (`super::open_client`), and the
//! demo, `sseek bench`, the leakage analysis and the CLI walk [`VARIANTS`].
//! Scheme names are matched as strings only in [`Scheme::parse`].
//!
//! **Adding a scheme**: a folder `src/sse/NAME/` (client half, server half,
//! declared leakage, tests), a variant of [`Scheme`] with its arms below,
//! and its rows in [`VARIANTS`]. The compiler then points at the two
//! dispatch matches (client constructor and server search) that need an arm.

use crate::leakage_terms::Profile;
use crate::{Error, Result};

/// Every SSE scheme sseek implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Pi_bas (CJJJKRS, NDSS 2014): one dictionary entry per result.
    PiBas,
    /// Pi_pack: Pi_bas with blocks of ids per entry.
    Pack,
    /// 2Lev (CJJJKRS, NDSS 2014): packed dictionary plus array, by list size.
    TwoLev,
    /// Mitra (Chamani, Papadopoulos, Papamanthou, Jalili, CCS 2018): dynamic,
    /// forward and Type-II backward private.
    Mitra,
    /// Diana (Bost, Minaud, Ohrimenko, CCS 2017): dynamic, add-only, forward private.
    Diana,
    /// OXT (Cash, Jarecki, Jutla, Krawczyk, Rosu, Steiner, CRYPTO 2013):
    /// static, conjunctions in one search.
    Oxt,
}

/// Whether a scheme's index is built once or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeKind {
    /// Built once from a whole multimap.
    Static,
    /// Updated pair by pair after setup.
    Dynamic,
}

impl Scheme {
    /// Every scheme, in the order reports list them.
    pub const ALL: [Scheme; 6] =
        [Scheme::PiBas, Scheme::Pack, Scheme::TwoLev, Scheme::Mitra, Scheme::Diana, Scheme::Oxt];

    /// The scheme's name on the wire, in descriptors and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::PiBas => "pibas",
            Scheme::Pack => "pack",
            Scheme::TwoLev => "2lev",
            Scheme::Mitra => "mitra",
            Scheme::Diana => "diana",
            Scheme::Oxt => "oxt",
        }
    }

    /// The scheme of a name.
    ///
    /// # Errors
    /// [`Error::Config`] for a name no scheme has.
    pub fn parse(name: &str) -> Result<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Scheme::ALL.iter().map(|s| s.name()).collect();
            Error::Config(format!("unknown SSE scheme {name:?} (known: {})", known.join(", ")))
        })
    }

    /// Static or dynamic.
    pub fn kind(self) -> SchemeKind {
        match self {
            Scheme::PiBas | Scheme::Pack | Scheme::TwoLev | Scheme::Oxt => SchemeKind::Static,
            Scheme::Mitra | Scheme::Diana => SchemeKind::Dynamic,
        }
    }

    /// The scheme's note in `papers/`.
    pub fn paper(self) -> &'static str {
        match self {
            Scheme::PiBas => "papers/pibas.md",
            Scheme::Pack => "papers/pack.md",
            Scheme::TwoLev => "papers/2lev.md",
            Scheme::Mitra => "papers/mitra.md",
            Scheme::Diana => "papers/diana.md",
            Scheme::Oxt => "papers/oxt.md",
        }
    }
}

/// A scheme with the options a tool runs it with: its name in the demo,
/// `sseek bench` and `sseek attack`, and its declared leakage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// Variant name: the scheme's name, with `-rh` for response-hiding.
    pub name: &'static str,
    /// The scheme.
    pub scheme: Scheme,
    /// Response-revealing (the server opens results) or response-hiding.
    pub response_revealing: bool,
    /// The leakage this variant declares (from its scheme's `leakage` module).
    pub profile: Profile,
}

/// Every variant the tools run, in the order they report them.
pub const VARIANTS: [Variant; 8] = [
    Variant { name: "pibas", scheme: Scheme::PiBas, response_revealing: true, profile: super::pibas::leakage::PIBAS },
    Variant { name: "pack", scheme: Scheme::Pack, response_revealing: true, profile: super::pibas::leakage::PACK },
    Variant { name: "2lev", scheme: Scheme::TwoLev, response_revealing: true, profile: super::twolev::leakage::TWOLEV },
    Variant {
        name: "2lev-rh",
        scheme: Scheme::TwoLev,
        response_revealing: false,
        profile: super::twolev::leakage::TWOLEV_RH,
    },
    Variant {
        name: "mitra",
        scheme: Scheme::Mitra,
        response_revealing: false,
        profile: super::mitra::leakage::PROFILE,
    },
    Variant { name: "diana", scheme: Scheme::Diana, response_revealing: true, profile: super::diana::leakage::PROFILE },
    Variant {
        name: "pack-rh",
        scheme: Scheme::Pack,
        response_revealing: false,
        profile: super::pibas::leakage::PACK_RH,
    },
    Variant { name: "oxt", scheme: Scheme::Oxt, response_revealing: false, profile: super::oxt::leakage::PROFILE },
];

/// The names of [`VARIANTS`], in order.
pub const VARIANT_NAMES: [&str; VARIANTS.len()] = {
    let mut names = [""; VARIANTS.len()];
    let mut i = 0;
    while i < VARIANTS.len() {
        names[i] = VARIANTS[i].name;
        i += 1;
    }
    names
};

/// The variant of a name.
///
/// # Errors
/// [`Error::Config`] for a name no variant has.
pub fn variant(name: &str) -> Result<Variant> {
    VARIANTS
        .into_iter()
        .find(|v| v.name == name)
        .ok_or_else(|| Error::Config(format!("unknown SSE variant {name:?} (known: {})", VARIANT_NAMES.join(", "))))
}

/// The scheme configuration of a variant name, with the variant's name as
/// the instance name.
///
/// # Errors
/// [`Error::Config`] for an unknown name.
pub fn variant_config(name: &str) -> Result<super::SchemeConfig> {
    let v = variant(name)?;
    let mut c = super::SchemeConfig::new(v.scheme.name(), v.name);
    c.response_revealing = v.response_revealing;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_are_distinct() {
        for s in Scheme::ALL {
            assert_eq!(Scheme::parse(s.name()).ok(), Some(s));
        }
        assert!(Scheme::parse("biex").is_err());
        let mut names = VARIANT_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VARIANTS.len());
        for v in VARIANTS {
            assert_eq!(variant_config(v.name).map(|c| c.scheme).ok().as_deref(), Some(v.scheme.name()));
        }
        assert!(variant("2lev-xx").is_err());
    }

    #[test]
    fn every_scheme_has_a_variant() {
        for s in Scheme::ALL {
            assert!(VARIANTS.iter().any(|v| v.scheme == s), "{s:?} has no variant");
        }
    }
}
