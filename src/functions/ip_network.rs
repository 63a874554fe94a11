//! `ip_network(ip)`: the network a viewer's address belongs to, as SQL sees it (and as
//! `viewer_evidence` keys it). An IPv6
//! address stands for its /64 (privacy addresses rotate inside it, one household or phone
//! keeps its prefix); an IPv4 address stands for itself. The `concurrent` profile counts
//! networks, not addresses.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

/// The SQL name of the function.
pub const IP_NETWORK: &str = "ip_network";

/// The network of one address: `a:b:c:d::/64` for IPv6, the address for IPv4, the text
/// unchanged when it is not an address (so distinct junk stays distinct).
pub fn ip_network(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_string(),
    }
}

/// A 64-bit key of the network [`ip_network`] names, without building its text: equal
/// networks get equal keys (in every process: the seeds are fixed), different ones the same
/// key with probability 2^-64 per pair.
pub fn network_key(ip: &str) -> u64 {
    // What ip_network() returns as text (an IPv4 address or junk: the text itself) is keyed by
    // its text. Without a ':' it is not IPv6, so no address is parsed (this runs once per row).
    let text = |text: &[u8]| {
        let mut h = NETWORK_HASH.build_hasher();
        h.write_u8(0);
        h.write(text);
        h.finish()
    };
    if memchr::memchr(b':', ip.as_bytes()).is_none() {
        return text(ip.as_bytes());
    }
    match ip.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => text(v4.to_string().as_bytes()),
            None => {
                let mut h = NETWORK_HASH.build_hasher();
                h.write_u8(6);
                h.write_u64((v6.to_bits() >> 64) as u64);
                h.finish()
            }
        },
        Err(_) => text(ip.as_bytes()),
    }
}

static NETWORK_HASH: ahash::RandomState = ahash::RandomState::with_seeds(
    0x9e37_79b9_7f4a_7c15,
    0xbf58_476d_1ce4_e5b9,
    0x94d0_49bb_1331_11eb,
    0x2545_f491_4f6c_dd1d,
);

/// `ip_network(Utf8) -> Utf8` for DataFusion.
pub fn ip_network_udf() -> ScalarUDF {
    create_udf(
        IP_NETWORK,
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| match args {
            [ColumnarValue::Array(array)] => {
                let ips = array.as_string_opt::<i32>().ok_or_else(|| {
                    DataFusionError::Execution(format!("{IP_NETWORK} takes a Utf8 column"))
                })?;
                let networks: StringArray = ips.iter().map(|ip| ip.map(ip_network)).collect();
                Ok(ColumnarValue::Array(Arc::new(networks) as ArrayRef))
            }
            [ColumnarValue::Scalar(ScalarValue::Utf8(ip))] => Ok(ColumnarValue::Scalar(
                ScalarValue::Utf8(ip.as_deref().map(ip_network)),
            )),
            _ => Err(DataFusionError::Execution(format!(
                "{IP_NETWORK} takes one Utf8 argument"
            ))),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_of_one_64_share_a_network() {
        assert_eq!(ip_network("2001:db8:12:34::1"), "2001:db8:12:34::/64");
        assert_eq!(
            ip_network("2001:0db8:0012:0034:a1b2:c3d4:e5f6:0789"),
            "2001:db8:12:34::/64"
        );
        assert_ne!(
            ip_network("2001:db8:12:35::1"),
            ip_network("2001:db8:12:34::1")
        );
        assert_eq!(ip_network("::ffff:192.0.2.7"), "192.0.2.7");
    }

    #[test]
    fn network_keys_are_equal_exactly_when_networks_are() {
        let addresses = [
            "2001:db8:12:34::1",
            "2001:0db8:0012:0034:a1b2:c3d4:e5f6:0789",
            "2001:db8:12:35::1",
            "::ffff:192.0.2.7",
            "192.0.2.7",
            "192.0.2.8",
            "not-an-ip",
            "-",
            "",
        ];
        for a in addresses {
            for b in addresses {
                assert_eq!(
                    network_key(a) == network_key(b),
                    ip_network(a) == ip_network(b),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn ipv4_and_junk_stand_for_themselves() {
        assert_eq!(ip_network("192.0.2.7"), "192.0.2.7");
        assert_ne!(ip_network("192.0.2.8"), ip_network("192.0.2.7"));
        assert_eq!(ip_network("not-an-ip"), "not-an-ip");
        assert_eq!(ip_network("-"), "-");
    }
}
