//! Where the store puts a key, as pure functions: the bucket of a store key,
//! the hash tag of a bucket, the Redis Cluster slot of a Redis key, and the
//! slot ranges `redis-cli --cluster create` gives each master. The store
//! places keys with these same functions, and the leakage analysis uses them
//! to derive what one master sees (`crate::leakage::experiment::shard`)
//! without a running cluster.

use std::ops::RangeInclusive;

use sha2::{Digest, Sha256};

use crate::store::Table;

/// Hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The table's first byte of a member: its place in [`Table::ALL`].
pub(super) fn table_byte(table: Table) -> u8 {
    u8::try_from(table.index()).unwrap_or(u8::MAX)
}

/// A bucket member: the table byte, then the store key.
pub(super) fn member(table: Table, key: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(key.len() + 1);
    m.push(table_byte(table));
    m.extend_from_slice(key);
    m
}

/// The bucket of a member among `buckets` (at least 1): the first 8 bytes
/// of its SHA-256, big-endian, modulo the bucket count.
pub(super) fn bucket_of_member(buckets: u32, member: &[u8]) -> u32 {
    let digest = Sha256::digest(member);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let b = u64::from_be_bytes(first) % u64::from(buckets.max(1));
    u32::try_from(b).unwrap_or(0)
}

/// The bucket the store puts store key `(table, key)` in, of `buckets`.
pub fn bucket_of(buckets: u32, table: Table, key: &[u8]) -> u32 {
    bucket_of_member(buckets, &member(table, key))
}

/// The hash tag every Redis key of bucket `bucket` of namespace `namespace`
/// starts with, braces included: `{ns:bI}`.
pub fn bucket_tag(namespace: &str, bucket: u32) -> String {
    format!("{{{namespace}:b{bucket}}}")
}

/// The Redis Cluster hash slot of a Redis key (CRC16/XMODEM of the hash tag
/// or, without a non-empty tag, of the whole key, modulo 16384), as Redis
/// computes it (`CLUSTER KEYSLOT`).
pub fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| key[open + 1..].iter().position(|&b| b == b'}').map(|len| (open + 1, len)))
        .filter(|&(_, len)| len > 0)
        .map_or(key, |(start, len)| &key[start..start + len]);
    let mut crc: u16 = 0;
    for &byte in tagged {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc % SLOTS
}

/// The slot ranges of `masters` masters (at least 1) as `redis-cli --cluster
/// create` assigns them (and so `scripts/redis-cluster.sh start`): master
/// `i` gets slots `first..=last` with `last = round(i·S/m + S/m − 1)`, the
/// last master up to slot 16383.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // slot numbers are below 16384
pub fn slot_ranges(masters: u16) -> Vec<RangeInclusive<u16>> {
    let masters = masters.clamp(1, SLOTS);
    let per = f64::from(SLOTS) / f64::from(masters);
    let mut ranges = Vec::with_capacity(usize::from(masters));
    let (mut first, mut cursor) = (0u16, 0f64);
    for i in 0..masters {
        // redis-cli rounds half away from zero (lround).
        let mut last = (cursor + per - 1.0).round() as u16;
        if last >= SLOTS || i == masters - 1 {
            last = SLOTS - 1;
        }
        last = last.max(first);
        ranges.push(first..=last);
        first = last + 1;
        cursor += per;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_reference_values() {
        // Values from Redis' own documentation and `CLUSTER KEYSLOT`.
        assert_eq!(slot(b"123456789"), 12739);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"), "an empty tag hashes the whole key");
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
    }

    #[test]
    fn slot_ranges_are_those_of_redis_cli() {
        assert_eq!(slot_ranges(1), vec![0..=16383]);
        assert_eq!(slot_ranges(3), vec![0..=5460, 5461..=10922, 10923..=16383]);
        assert_eq!(
            slot_ranges(6),
            vec![0..=2730, 2731..=5460, 5461..=8191, 8192..=10922, 10923..=13652, 13653..=16383]
        );
        for m in 1..=40 {
            let r = slot_ranges(m);
            assert_eq!(r.len(), usize::from(m));
            assert_eq!(*r[0].start(), 0);
            assert_eq!(*r[r.len() - 1].end(), SLOTS - 1);
            assert!(r.windows(2).all(|w| *w[1].start() == *w[0].end() + 1));
        }
    }
}
