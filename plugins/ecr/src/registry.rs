//! ECR registry host names: which account, region, partition and endpoint variant a
//! registry is (the pattern ecr-login and the kubelet's ECR provider share). Pure.

/// What a registry host is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrRegistry {
    /// `<account>.dkr.ecr[-fips].<region>.<suffix>` or dual-stack `<account>.dkr-ecr.<region>.on.aws`.
    Private {
        account: String,
        region: String,
        fips: bool,
        dual_stack: bool,
        /// The DNS suffix of the partition, e.g. `amazonaws.com`, `amazonaws.com.cn`, `on.aws`.
        suffix: String,
    },
    /// ECR Public: `public.ecr.aws` or dual-stack `ecr-public.aws.com`.
    Public,
    /// Any other host routed to this plugin (an alias); its region comes from settings or
    /// the environment.
    Other,
}

/// DNS suffixes of the partitions ECR registries live in.
const SUFFIXES: [&str; 9] = [
    "amazonaws.com",
    "amazonaws.com.cn",
    "amazonaws.eu",
    "on.aws",
    "on.amazonwebservices.com.cn",
    "sc2s.sgov.gov",
    "c2s.ic.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
];

impl EcrRegistry {
    /// Classifies a normalised registry (`host[:port]`, lower case).
    pub fn parse(registry: &str) -> EcrRegistry {
        if registry == "public.ecr.aws" || registry == "ecr-public.aws.com" {
            return EcrRegistry::Public;
        }
        let labels: Vec<&str> = registry.split('.').collect();
        let account = labels[0];
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return EcrRegistry::Other;
        }
        // `dkr.ecr`, `dkr.ecr-fips`, or (dual-stack) `dkr-ecr`, `dkr-ecr-fips`.
        let (rest, fips, dash) = match (labels.get(1).copied(), labels.get(2).copied()) {
            (Some("dkr"), Some("ecr")) => (&labels[3..], false, false),
            (Some("dkr"), Some("ecr-fips")) => (&labels[3..], true, false),
            (Some("dkr-ecr"), _) => (&labels[2..], false, true),
            (Some("dkr-ecr-fips"), _) => (&labels[2..], true, true),
            _ => return EcrRegistry::Other,
        };
        let Some((region, suffix)) = rest.split_first() else { return EcrRegistry::Other };
        let suffix = suffix.join(".");
        let region_ok = region.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !region_ok || !SUFFIXES.contains(&suffix.as_str()) {
            return EcrRegistry::Other;
        }
        let dual_stack = suffix.starts_with("on.");
        if dash && !dual_stack {
            return EcrRegistry::Other;
        }
        EcrRegistry::Private { account: account.into(), region: region.to_string(), fips, dual_stack, suffix }
    }
}

/// The DNS suffix of the partition `region` is in.
pub fn partition_suffix(region: &str) -> &'static str {
    match region {
        r if r.starts_with("cn-") => "amazonaws.com.cn",
        r if r.starts_with("us-isob-") => "sc2s.sgov.gov",
        r if r.starts_with("us-isof-") => "csp.hci.ic.gov",
        r if r.starts_with("us-iso-") => "c2s.ic.gov",
        r if r.starts_with("eu-isoe-") => "cloud.adc-e.uk",
        r if r.starts_with("eusc-") => "amazonaws.eu",
        _ => "amazonaws.com",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(account: &str, region: &str, fips: bool, dual_stack: bool, suffix: &str) -> EcrRegistry {
        EcrRegistry::Private { account: account.into(), region: region.into(), fips, dual_stack, suffix: suffix.into() }
    }

    #[test]
    fn every_ecr_host_form_is_recognised() {
        let id = "123456789012";
        for (host, expected) in [
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com", private(id, "us-east-1", false, false, "amazonaws.com")),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                private(id, "cn-north-1", false, false, "amazonaws.com.cn"),
            ),
            (
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                private(id, "us-gov-west-1", true, false, "amazonaws.com"),
            ),
            (
                "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
                private(id, "eusc-de-east-1", false, false, "amazonaws.eu"),
            ),
            ("123456789012.dkr-ecr.eu-west-1.on.aws", private(id, "eu-west-1", false, true, "on.aws")),
            (
                "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
                private(id, "cn-north-1", false, true, "on.amazonwebservices.com.cn"),
            ),
            ("123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", private(id, "us-iso-east-1", false, false, "c2s.ic.gov")),
            ("public.ecr.aws", EcrRegistry::Public),
            ("ecr-public.aws.com", EcrRegistry::Public),
            ("12345678901.dkr.ecr.us-east-1.amazonaws.com", EcrRegistry::Other),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.org", EcrRegistry::Other),
            ("123456789012.dkr-ecr.us-east-1.amazonaws.com", EcrRegistry::Other),
            ("123456789012.dkr.ecr.amazonaws.com", EcrRegistry::Other),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com:443", EcrRegistry::Other),
            ("registry.corp.example", EcrRegistry::Other),
        ] {
            assert_eq!(EcrRegistry::parse(host), expected, "{host}");
        }
    }

    #[test]
    fn regions_name_their_partition() {
        for (region, suffix) in [
            ("us-west-2", "amazonaws.com"),
            ("us-gov-west-1", "amazonaws.com"),
            ("cn-northwest-1", "amazonaws.com.cn"),
            ("us-iso-east-1", "c2s.ic.gov"),
            ("us-isob-east-1", "sc2s.sgov.gov"),
            ("eusc-de-east-1", "amazonaws.eu"),
        ] {
            assert_eq!(partition_suffix(region), suffix, "{region}");
        }
    }
}
