//! A caller's IP address as text (`aws:SourceIp`, the audit record's `sourceIPAddress`),
//! written into an inline buffer: `IpAddr`'s `Display` goes through `fmt`'s padding-aware
//! machinery and a `String`, which was 1.1% of an IAM user's read (its policies test
//! `aws:SourceIp`) — for one address per request.

use std::net::IpAddr;

/// The longest text form of an address: an IPv4-mapped IPv6 address,
/// `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
const MAX_LEN: usize = 45;

/// An address's text, as `IpAddr`'s `Display` writes it, held inline.
#[derive(Clone, Copy)]
pub struct IpText {
    buf: [u8; MAX_LEN],
    len: u8,
}

impl IpText {
    pub fn new(ip: IpAddr) -> Self {
        let mut t = Self {
            buf: [0; MAX_LEN],
            len: 0,
        };
        match ip {
            IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        t.push(b'.');
                    }
                    if octet >= 100 {
                        t.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        t.push(b'0' + octet / 10 % 10);
                    }
                    t.push(b'0' + octet % 10);
                }
            }
            // Rare here, and its compression rules are `Display`'s to get right.
            IpAddr::V6(_) => {
                use std::fmt::Write;
                let _ = write!(t, "{ip}");
            }
        }
        t
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len as usize] = b;
        self.len += 1;
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits, dots, colons and hex letters are ever written.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or_default()
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let start = self.len as usize;
        let end = start + s.len();
        if end > MAX_LEN {
            return Err(std::fmt::Error);
        }
        self.buf[start..end].copy_from_slice(s.as_bytes());
        self.len = end as u8;
        Ok(())
    }
}

impl std::fmt::Debug for IpText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_display_writes() {
        for text in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.20.255",
            "192.168.100.9",
            "255.255.255.255",
            "::",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.128",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::1:2:3:4",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(IpText::new(ip).as_str(), ip.to_string(), "{text}");
        }
        // Every octet value, in every position's digit count.
        for o in 0..=255u8 {
            let ip = IpAddr::from([o, 255 - o, o / 2, 7]);
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
        }
    }
}
