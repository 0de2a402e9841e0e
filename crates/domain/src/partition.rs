//! AWS partitions: the first field after `arn:` follows the region — `cn-north-1` is in
//! `aws-cn`, `us-gov-west-1` in `aws-us-gov`. The rules are the SDKs' endpoint partition data
//! (`partitions.json`, each partition's `regionRegex`); a region matching none is in `aws`,
//! as the SDKs default.

/// The standard partition.
pub const AWS: &str = "aws";

/// (partition, region prefix): a region of the partition is `PREFIX-\w+-\d+`. The prefixes
/// are disjoint: `\w` has no `-`, so `us-gov-west-1` is not `us-\w+-\d+`.
const PREFIXED: &[(&str, &str)] = &[
    ("aws-cn", "cn"),
    ("aws-us-gov", "us-gov"),
    ("aws-iso", "us-iso"),
    ("aws-iso-b", "us-isob"),
    ("aws-iso-e", "eu-isoe"),
    ("aws-iso-f", "us-isof"),
    ("aws-eusc", "eusc-de"),
];

/// The partition of `region`.
pub fn partition_of(region: &str) -> &'static str {
    PREFIXED
        .iter()
        .find(|(_, prefix)| {
            region
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(word_dash_digits)
        })
        .map_or(AWS, |(partition, _)| partition)
}

/// The region a partition's global services (IAM) are signed for — the SDKs' IAM
/// `credentialScope` (`implicitGlobalRegion` in `partitions.json`).
pub fn global_region(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        "aws-iso" => "us-iso-east-1",
        "aws-iso-b" => "us-isob-east-1",
        "aws-iso-e" => "eu-isoe-west-1",
        "aws-iso-f" => "us-isof-south-1",
        "aws-eusc" => "eusc-de-east-1",
        _ => "us-east-1",
    }
}

/// The partition field of an ARN (`arn:PARTITION:...`), if `arn` has one.
pub fn arn_partition(arn: &str) -> Option<&str> {
    let mut fields = arn.splitn(3, ':');
    match (fields.next(), fields.next(), fields.next()) {
        (Some("arn"), Some(p), Some(_)) if !p.is_empty() => Some(p),
        _ => None,
    }
}

/// `\w+-\d+` in full.
fn word_dash_digits(s: &str) -> bool {
    let Some((word, digits)) = s.split_once('-') else {
        return false;
    };
    !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_follows_the_region() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("eu-west-1", "aws"),
            ("il-central-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-gov-east-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eusc-de-east-1", "aws-eusc"),
        ] {
            assert_eq!(partition_of(region), partition, "{region}");
        }
    }

    #[test]
    fn global_regions_are_in_their_partition() {
        for p in PREFIXED.iter().map(|(p, _)| *p).chain([AWS]) {
            assert_eq!(partition_of(global_region(p)), p);
        }
        assert_eq!(global_region("aws-cn"), "cn-north-1");
        assert_eq!(global_region("aws"), "us-east-1");
    }

    #[test]
    fn a_region_of_no_known_shape_is_in_aws() {
        // Not PREFIX-\w+-\d+: the SDKs fall back to `aws` as well.
        for region in [
            "cn",
            "cn-north",
            "cn-north-",
            "cn-north-1a",
            "cn--1",
            "cnx-north-1",
            "us-gov-west-east-1",
            "local",
            "",
        ] {
            assert_eq!(partition_of(region), "aws", "{region}");
        }
    }

    #[test]
    fn arn_partition_is_the_second_field() {
        assert_eq!(
            arn_partition("arn:aws-cn:iam::123456789012:root"),
            Some("aws-cn")
        );
        assert_eq!(arn_partition("arn:aws:s3:::b"), Some("aws"));
        for no in [
            "arn:",
            "arn:aws",
            "arn::iam::1:root",
            "ecs-tasks.amazonaws.com",
        ] {
            assert_eq!(arn_partition(no), None, "{no}");
        }
    }
}
