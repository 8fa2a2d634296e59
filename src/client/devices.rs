//! Several devices per account: the account [`Keyring`] sealed to each
//! enrolled device's X25519 key with HPKE (RFC 9180), and an authenticated
//! directory of the devices, both kept on the server as sealed client
//! states (`GetClientState` / `PutClientState`, compare-and-swap versions).
//! No new protocol message: the server stores opaque bytes under instance
//! names.
//!
//! - `device/<fingerprint hex>`: the keyring sealed to one device:
//!   `"SSEEKDK1"`, the HPKE encapsulated key (32 bytes), the AES-256-GCM
//!   ciphertext of the keyring's file bytes. HPKE `info` binds a domain
//!   label, the tenant and the device fingerprint (and DHKEM binds the
//!   device's public key); the associated data binds the slot's name and
//!   its compare-and-swap version, so an older blob replayed under a newer
//!   version, or a blob moved to another device's slot, does not open. An
//!   **empty** blob means removed: revocation writes one.
//! - `devices`: the directory (each device's name, public key, fingerprint
//!   and enrollment time): the key version that sealed it (u32 BE), then a
//!   [`StateFile`] shared state sealed under a key derived from that
//!   version's master key with its own label, with its compare-and-swap
//!   version as associated data. The server cannot add its own public key
//!   to it, so [`publish_keyring`] never seals the keyring to a key the
//!   account did not enroll.
//!
//! Revocation removes a device's sealed keyring and its directory entry;
//! the device still knows every key it held, so a revocation must be
//! followed by a key rotation (a new keyring version, re-sealing,
//! re-indexing) and [`publish_keyring`] of the new keyring to the
//! remaining devices. What the server learns: `papers/devices.md`.
//!
//! ```
//! use std::sync::Arc;
//! use sseek::client::devices;
//! use sseek::keys::{Keyring, device::DeviceKeyPair};
//! use sseek::{server::Server, store::MemoryStore, transport::InProcess};
//!
//! let server = Arc::new(Server::new(MemoryStore::new()));
//! let transport = InProcess::new(server, "acme");
//! let keyring = Keyring::generate()?;                     // on the laptop
//! let phone = DeviceKeyPair::generate()?;                 // on the phone
//! let entry = devices::enroll(&keyring, "acme", &transport, "phone", phone.public_key())?;
//! assert_eq!(entry.fingerprint, phone.fingerprint());     // compare on both screens
//! let opened = devices::open_keyring(&phone, "acme", &transport)?;
//! assert_eq!(opened.current().key_id(), keyring.current().key_id());
//! devices::revoke(&keyring, "acme", &transport, &phone.fingerprint())?;
//! assert!(devices::open_keyring(&phone, "acme", &transport).is_err());
//! # Ok::<(), sseek::Error>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::keys::device::{DeviceKeyPair, DevicePublicKey, ENCAPSULATED_KEY_LEN, Fingerprint, seal_to_device};
use crate::keys::{KeyLabel, Keyring, Purpose};
use crate::protocol::transport::Transport;
use crate::protocol::{Request, Response, VersionedState, expect_ok, unexpected};
use crate::state::StateFile;
use crate::{Error, Result};

/// The instance name of the device directory.
pub const DIRECTORY_INSTANCE: &str = "devices";
/// Magic of a keyring sealed to a device.
const SLOT_MAGIC: &[u8; 8] = b"SSEEKDK1";
/// Domain label in the HPKE `info` and associated data of a sealed keyring.
const KEYRING_LABEL: &[u8] = b"sseek/device-keyring/v1";
/// Where directory errors say the directory is.
const DIRECTORY_SOURCE: &str = "device directory on the server";
/// Attempts of one change against other devices' concurrent changes.
const ATTEMPTS: usize = 16;
/// Longest device name, in bytes.
pub const MAX_NAME: usize = 64;
/// Most devices one account may enroll.
pub const MAX_DEVICES: usize = 1000;

/// The instance name of a device's sealed keyring: `device/<fingerprint hex>`.
pub fn slot_instance(fingerprint: &Fingerprint) -> String {
    format!("device/{}", fingerprint.hex())
}

/// One enrolled device, as the directory lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// The name given at enrollment (`phone`, `laptop`).
    pub name: String,
    /// The device's X25519 public key.
    pub public_key: DevicePublicKey,
    /// The public key's fingerprint (checked against the key when read).
    pub fingerprint: Fingerprint,
    /// When it was enrolled, seconds since the Unix epoch (the enrolling device's clock).
    pub enrolled_at: u64,
}

#[derive(Serialize, Deserialize)]
struct Directory {
    devices: Vec<DeviceEntry>,
}

/// A directory as read: its compare-and-swap version (0: none yet) and entries.
struct Read {
    version: u64,
    devices: Vec<DeviceEntry>,
}

fn get_state<T: Transport + ?Sized>(transport: &T, instance: &str) -> Result<Option<VersionedState>> {
    match transport.call(&Request::GetClientState { instance: instance.to_owned() })? {
        Response::ClientState(s) => Ok(s),
        other => Err(unexpected(&other)),
    }
}

/// Puts `sealed` as `version`; `false` if another device changed it first.
fn put_state<T: Transport + ?Sized>(transport: &T, instance: &str, version: u64, sealed: Vec<u8>) -> Result<bool> {
    match transport.call(&Request::PutClientState { instance: instance.to_owned(), version, sealed }) {
        Ok(r) => expect_ok(r).map(|()| true),
        Err(Error::Server { code: 409, .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn directory_error(reason: String) -> Error {
    Error::StateFile { path: DIRECTORY_SOURCE.into(), reason }
}

/// The sealer of the directory under key version `key_version` of `keyring`.
fn directory_sealer(keyring: &Keyring, tenant: &str, key_version: u32) -> Result<StateFile> {
    let master = keyring.get(key_version).ok_or_else(|| {
        directory_error(format!(
            "sealed under key version {key_version}, which this keyring does not hold (it holds {:?}): \
             open the account's newest keyring first",
            keyring.versions()
        ))
    })?;
    let label = KeyLabel::new(tenant, "devices", "directory", Purpose::Other("device-directory"), key_version)?;
    StateFile::keyed(master, &label, &format!("{tenant}/devices/directory"))
}

fn read_directory<T: Transport + ?Sized>(keyring: &Keyring, tenant: &str, transport: &T) -> Result<Read> {
    let Some(state) = get_state(transport, DIRECTORY_INSTANCE)? else {
        return Ok(Read { version: 0, devices: Vec::new() });
    };
    let Some((key_version, sealed)) = state.sealed.split_first_chunk::<4>() else {
        return Err(directory_error(format!("{} bytes, shorter than its key version", state.sealed.len())));
    };
    let key_version = u32::from_be_bytes(*key_version);
    let dir: Directory =
        directory_sealer(keyring, tenant, key_version)?.open_versioned(sealed, state.version, DIRECTORY_SOURCE)?;
    let mut seen = std::collections::BTreeSet::new();
    for d in &dir.devices {
        if d.public_key.fingerprint() != d.fingerprint || !seen.insert(d.fingerprint) {
            return Err(directory_error(format!("entry {:?} has a wrong or repeated fingerprint", d.name)));
        }
    }
    Ok(Read { version: state.version, devices: dir.devices })
}

/// Seals `devices` as directory version `version` under the keyring's
/// current key; `false` if another device changed the directory first.
fn write_directory<T: Transport + ?Sized>(
    keyring: &Keyring,
    tenant: &str,
    transport: &T,
    version: u64,
    devices: &[DeviceEntry],
) -> Result<bool> {
    let key_version = keyring.current_version();
    let sealed = directory_sealer(keyring, tenant, key_version)?
        .seal_versioned(&Directory { devices: devices.to_vec() }, version)?;
    put_state(transport, DIRECTORY_INSTANCE, version, [&key_version.to_be_bytes()[..], &sealed].concat())
}

/// HPKE `info` of a device's sealed keyring: label, tenant, fingerprint.
fn keyring_info(tenant: &str, fingerprint: &Fingerprint) -> Vec<u8> {
    let tenant_len = u32::try_from(tenant.len()).unwrap_or(u32::MAX).to_be_bytes();
    [KEYRING_LABEL, b"/info", &tenant_len, tenant.as_bytes(), &fingerprint.0].concat()
}

/// Associated data of a device's sealed keyring: label, slot, version.
fn keyring_aad(instance: &str, version: u64) -> Vec<u8> {
    let len = u32::try_from(instance.len()).unwrap_or(u32::MAX).to_be_bytes();
    [KEYRING_LABEL, b"/aad", &len, instance.as_bytes(), &version.to_be_bytes()].concat()
}

/// Seals `keyring` into the slot of `device` as its next version.
fn seal_keyring_to<T: Transport + ?Sized>(
    keyring: &Keyring,
    tenant: &str,
    transport: &T,
    device: &DeviceEntry,
) -> Result<()> {
    let instance = slot_instance(&device.fingerprint);
    let info = keyring_info(tenant, &device.fingerprint);
    let plain = keyring.to_file_bytes();
    for _ in 0..ATTEMPTS {
        let version = get_state(transport, &instance)?.map_or(0, |s| s.version) + 1;
        let sealed = seal_to_device(&device.public_key, &info, &keyring_aad(&instance, version), &plain)?;
        if put_state(transport, &instance, version, [&SLOT_MAGIC[..], &sealed].concat())? {
            return Ok(());
        }
    }
    Err(Error::Conflict(format!(
        "the slot of device {} changed under {ATTEMPTS} attempts; try again",
        device.fingerprint
    )))
}

/// Empties a device's slot (removed); `false` if it was empty or absent.
fn clear_slot<T: Transport + ?Sized>(transport: &T, fingerprint: &Fingerprint) -> Result<bool> {
    let instance = slot_instance(fingerprint);
    for _ in 0..ATTEMPTS {
        let Some(state) = get_state(transport, &instance)?.filter(|s| !s.sealed.is_empty()) else { return Ok(false) };
        if put_state(transport, &instance, state.version + 1, Vec::new())? {
            return Ok(true);
        }
    }
    Err(Error::Conflict(format!("the slot of device {fingerprint} changed under {ATTEMPTS} attempts; try again")))
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::Config(format!("device name {name:?}: 1 to {MAX_NAME} bytes of printable text, please")));
    }
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Enrolls a device: adds it to the directory (re-sealed under the
/// keyring's current key) and seals `keyring` to its public key. Run it on
/// a device that holds the keyring, with the public key the new device
/// printed; compare the returned fingerprint with the one the new device
/// shows before trusting it.
///
/// ```
/// # use std::sync::Arc;
/// # use sseek::{client::devices, keys::{Keyring, device::DeviceKeyPair}};
/// # use sseek::{server::Server, store::MemoryStore, transport::InProcess};
/// let transport = InProcess::new(Arc::new(Server::new(MemoryStore::new())), "acme");
/// let keyring = Keyring::generate()?;
/// let tablet = DeviceKeyPair::generate()?;
/// let entry = devices::enroll(&keyring, "acme", &transport, "tablet", tablet.public_key())?;
/// assert_eq!(devices::list(&keyring, "acme", &transport)?, vec![entry]);
/// # Ok::<(), sseek::Error>(())
/// ```
///
/// # Errors
/// [`Error::Config`] for a bad name or a public key HPKE refuses;
/// [`Error::Conflict`] if the device is enrolled already, the account has
/// [`MAX_DEVICES`], or other devices kept changing the directory;
/// [`Error::StateFile`] for a directory that does not open under this
/// keyring (modified, replayed, or sealed under a key version it does not
/// hold); transport and server errors.
pub fn enroll<T: Transport + ?Sized>(
    keyring: &Keyring,
    tenant: &str,
    transport: &T,
    name: &str,
    public_key: DevicePublicKey,
) -> Result<DeviceEntry> {
    check_name(name)?;
    // A key HPKE refuses (a low-order point) fails here, before anything is written.
    seal_to_device(&public_key, b"check", b"", b"")
        .map_err(|e| Error::Config(format!("device public key {}: {e}", public_key.to_hex())))?;
    let entry =
        DeviceEntry { name: name.to_owned(), public_key, fingerprint: public_key.fingerprint(), enrolled_at: now() };
    for _ in 0..ATTEMPTS {
        let dir = read_directory(keyring, tenant, transport)?;
        if let Some(old) = dir.devices.iter().find(|d| d.fingerprint == entry.fingerprint) {
            return Err(Error::Conflict(format!("device {} is already enrolled as {:?}", old.fingerprint, old.name)));
        }
        if dir.devices.len() >= MAX_DEVICES {
            return Err(Error::Conflict(format!("the account has {MAX_DEVICES} devices, the most allowed")));
        }
        let mut devices = dir.devices;
        devices.push(entry.clone());
        // The directory first: a crash before the keyring is sealed leaves
        // an entry without a keyring, which the next publish_keyring fills.
        if write_directory(keyring, tenant, transport, dir.version + 1, &devices)? {
            seal_keyring_to(keyring, tenant, transport, &entry)?;
            return Ok(entry);
        }
    }
    Err(Error::Conflict(format!("the device directory changed under {ATTEMPTS} attempts; try again")))
}

/// Opens the keyring sealed to `device`, and checks that the account's
/// directory (sealed under that keyring) lists the device.
///
/// ```
/// # use std::sync::Arc;
/// # use sseek::{client::devices, keys::{Keyring, device::DeviceKeyPair}};
/// # use sseek::{server::Server, store::MemoryStore, transport::InProcess};
/// let transport = InProcess::new(Arc::new(Server::new(MemoryStore::new())), "acme");
/// let phone = DeviceKeyPair::generate()?;
/// let err = devices::open_keyring(&phone, "acme", &transport).unwrap_err();
/// assert!(err.to_string().contains("not enrolled"), "{err}");
/// # Ok::<(), sseek::Error>(())
/// ```
///
/// # Errors
/// [`Error::NotFound`] if the device holds no keyring (never enrolled, or
/// revoked) or the directory does not list it (revoked);
/// [`Error::StateFile`] for a sealed keyring that does not open (sealed to
/// another device or tenant, an older version replayed under a newer one,
/// modified) or a directory that does not; [`Error::KeyFile`] for a sealed
/// keyring that opens but does not parse; transport and server errors.
pub fn open_keyring<T: Transport + ?Sized>(device: &DeviceKeyPair, tenant: &str, transport: &T) -> Result<Keyring> {
    let fingerprint = device.fingerprint();
    let instance = slot_instance(&fingerprint);
    let Some(state) = get_state(transport, &instance)?.filter(|s| !s.sealed.is_empty()) else {
        return Err(Error::NotFound(format!(
            "device {fingerprint} holds no keyring of tenant {tenant}: not enrolled, or revoked"
        )));
    };
    let bad =
        |reason: String| Error::StateFile { path: format!("sealed keyring of device {fingerprint}").into(), reason };
    let body = state.sealed.strip_prefix(SLOT_MAGIC).ok_or_else(|| bad("not a sealed device keyring".into()))?;
    if body.len() < ENCAPSULATED_KEY_LEN + 16 {
        return Err(bad(format!("truncated: {} bytes", state.sealed.len())));
    }
    let plain = device
        .open(body, &keyring_info(tenant, &fingerprint), &keyring_aad(&instance, state.version))
        .map_err(|_| {
            bad(format!(
                "does not open as version {} for this device: sealed to another device or tenant, \
                 an older version replayed, or modified",
                state.version
            ))
        })?;
    let keyring = Keyring::from_file_bytes(&plain, Path::new("sealed keyring on the server"))?;
    let dir = read_directory(&keyring, tenant, transport)?;
    if !dir.devices.iter().any(|d| d.public_key == device.public_key()) {
        return Err(Error::NotFound(format!(
            "device {fingerprint} is not in the device directory of tenant {tenant}: revoked"
        )));
    }
    Ok(keyring)
}

/// The enrolled devices, in enrollment order.
///
/// # Errors
/// [`Error::StateFile`] for a directory that does not open under this
/// keyring; transport and server errors.
pub fn list<T: Transport + ?Sized>(keyring: &Keyring, tenant: &str, transport: &T) -> Result<Vec<DeviceEntry>> {
    Ok(read_directory(keyring, tenant, transport)?.devices)
}

/// Revokes a device: removes its directory entry, then its sealed keyring
/// (an empty blob); returns the entry removed. The device still knows
/// every key it held: rotate the keys next ([`crate::client::Client::rotate`],
/// which publishes the new keyring to the remaining devices; `sseek device
/// revoke` does both).
///
/// # Errors
/// [`Error::NotFound`] if the directory does not list the device (a
/// sealed keyring left in its slot by an interrupted revocation is removed
/// all the same); as [`list`]; [`Error::Conflict`] if other devices kept
/// changing the directory.
pub fn revoke<T: Transport + ?Sized>(
    keyring: &Keyring,
    tenant: &str,
    transport: &T,
    fingerprint: &Fingerprint,
) -> Result<DeviceEntry> {
    for _ in 0..ATTEMPTS {
        let dir = read_directory(keyring, tenant, transport)?;
        let (gone, rest): (Vec<DeviceEntry>, Vec<DeviceEntry>) =
            dir.devices.into_iter().partition(|d| d.fingerprint == *fingerprint);
        let Some(entry) = gone.into_iter().next() else {
            let cleared = clear_slot(transport, fingerprint)?;
            return Err(Error::NotFound(format!(
                "device {fingerprint} is not enrolled for tenant {tenant}{}",
                if cleared { " (a sealed keyring left in its slot was removed)" } else { "" }
            )));
        };
        // The entry first: publish_keyring never seals to a device the directory does not list.
        if write_directory(keyring, tenant, transport, dir.version + 1, &rest)? {
            clear_slot(transport, fingerprint)?;
            return Ok(entry);
        }
    }
    Err(Error::Conflict(format!("the device directory changed under {ATTEMPTS} attempts; try again")))
}

/// Seals `keyring` to every enrolled device and re-seals the directory
/// under its current key version; returns how many devices it reached.
/// Run it after a rotation added a version (and before older versions
/// are removed from the keyring: the directory may still be sealed under
/// one of them). A device revoked while this runs has its slot emptied
/// again at the end.
///
/// ```
/// # use std::sync::Arc;
/// # use sseek::{client::devices, keys::{Keyring, device::DeviceKeyPair}};
/// # use sseek::{server::Server, store::MemoryStore, transport::InProcess};
/// let transport = InProcess::new(Arc::new(Server::new(MemoryStore::new())), "acme");
/// let mut keyring = Keyring::generate()?;
/// let phone = DeviceKeyPair::generate()?;
/// devices::enroll(&keyring, "acme", &transport, "phone", phone.public_key())?;
/// keyring.add_version()?;
/// assert_eq!(devices::publish_keyring(&keyring, "acme", &transport)?, 1);
/// assert_eq!(devices::open_keyring(&phone, "acme", &transport)?.current_version(), 2);
/// # Ok::<(), sseek::Error>(())
/// ```
///
/// # Errors
/// As [`list`]; [`Error::Conflict`] if other devices kept changing the
/// directory; transport and server errors.
pub fn publish_keyring<T: Transport + ?Sized>(keyring: &Keyring, tenant: &str, transport: &T) -> Result<usize> {
    for _ in 0..ATTEMPTS {
        let dir = read_directory(keyring, tenant, transport)?;
        for device in &dir.devices {
            seal_keyring_to(keyring, tenant, transport, device)?;
        }
        let written = write_directory(keyring, tenant, transport, dir.version + 1, &dir.devices)?;
        // A revocation that ran meanwhile removed its entry, then emptied
        // the slot, which may have been sealed again above: empty it again.
        let now = read_directory(keyring, tenant, transport)?;
        for device in dir.devices.iter().filter(|d| !now.devices.iter().any(|n| n.public_key == d.public_key)) {
            clear_slot(transport, &device.fingerprint)?;
        }
        if written {
            return Ok(dir.devices.len());
        }
    }
    Err(Error::Conflict(format!("the device directory changed under {ATTEMPTS} attempts; try again")))
}
