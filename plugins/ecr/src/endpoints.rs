//! Where the AWS APIs are: the ECR, ECR Public and STS endpoints for a region and
//! partition, with the endpoint variants (FIPS, dual-stack) and the `AWS_ENDPOINT_URL*`
//! overrides users rely on. Pure over the environment lookup.

use crate::registry::partition_suffix;

/// An API endpoint: its base URL (`https://host[:port]`, maybe a path) and signing region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub region: String,
}

/// A service-specific override (`AWS_ENDPOINT_URL_<SERVICE>`), else the global
/// `AWS_ENDPOINT_URL`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true.
fn configured(env: &dyn Fn(&str) -> Option<String>, service_variable: &str) -> Option<String> {
    let ignore = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if ignore {
        return None;
    }
    env(service_variable).or_else(|| env("AWS_ENDPOINT_URL")).map(|url| url.trim_end_matches('/').to_string())
}

/// Variants the user asked for with `AWS_USE_FIPS_ENDPOINT`/`AWS_USE_DUALSTACK_ENDPOINT`,
/// or that the registry's own host name implies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variants {
    pub fips: bool,
    pub dual_stack: bool,
}

/// The private ECR API for `region`.
pub fn ecr(region: &str, variants: Variants, env: &dyn Fn(&str) -> Option<String>) -> Endpoint {
    let suffix = partition_suffix(region);
    let url = configured(env, "AWS_ENDPOINT_URL_ECR").unwrap_or_else(|| match variants {
        Variants { dual_stack: true, fips } => {
            let fips = if fips { "-fips" } else { "" };
            let suffix = if suffix == "amazonaws.com.cn" { "api.amazonwebservices.com.cn" } else { "api.aws" };
            format!("https://ecr{fips}.{region}.{suffix}")
        }
        Variants { fips: true, .. } => format!("https://ecr-fips.{region}.{suffix}"),
        _ => format!("https://api.ecr.{region}.{suffix}"),
    });
    Endpoint { url, region: region.to_string() }
}

/// The ECR Public API (only in us-east-1).
pub fn ecr_public(env: &dyn Fn(&str) -> Option<String>) -> Endpoint {
    let url = configured(env, "AWS_ENDPOINT_URL_ECR_PUBLIC")
        .unwrap_or_else(|| "https://api.ecr-public.us-east-1.amazonaws.com".to_string());
    Endpoint { url, region: "us-east-1".into() }
}

/// The regional STS endpoint for `region`.
pub fn sts(region: &str, fips: bool, env: &dyn Fn(&str) -> Option<String>) -> Endpoint {
    let suffix = partition_suffix(region);
    let url = configured(env, "AWS_ENDPOINT_URL_STS").unwrap_or_else(|| match fips {
        true => format!("https://sts-fips.{region}.{suffix}"),
        false => format!("https://sts.{region}.{suffix}"),
    });
    Endpoint { url, region: region.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn default_endpoints_per_partition_and_variant() {
        let plain = Variants::default();
        let fips = Variants { fips: true, dual_stack: false };
        let dual = Variants { fips: false, dual_stack: true };
        for (region, variants, url) in [
            ("us-west-2", plain, "https://api.ecr.us-west-2.amazonaws.com"),
            ("cn-north-1", plain, "https://api.ecr.cn-north-1.amazonaws.com.cn"),
            ("us-gov-west-1", fips, "https://ecr-fips.us-gov-west-1.amazonaws.com"),
            ("eu-west-1", dual, "https://ecr.eu-west-1.api.aws"),
            ("cn-north-1", dual, "https://ecr.cn-north-1.api.amazonwebservices.com.cn"),
            ("us-iso-east-1", plain, "https://api.ecr.us-iso-east-1.c2s.ic.gov"),
        ] {
            assert_eq!(ecr(region, variants, &no_env), Endpoint { url: url.into(), region: region.into() });
        }
        assert_eq!(ecr_public(&no_env).url, "https://api.ecr-public.us-east-1.amazonaws.com");
        assert_eq!(sts("us-west-2", false, &no_env).url, "https://sts.us-west-2.amazonaws.com");
        assert_eq!(sts("cn-north-1", false, &no_env).url, "https://sts.cn-north-1.amazonaws.com.cn");
        assert_eq!(sts("us-gov-west-1", true, &no_env).url, "https://sts-fips.us-gov-west-1.amazonaws.com");
    }

    #[test]
    fn overrides_win_unless_ignored() {
        let env = |name: &str| match name {
            "AWS_ENDPOINT_URL_ECR" => Some("https://ecr.mock:8443/".to_string()),
            "AWS_ENDPOINT_URL" => Some("https://all.mock".to_string()),
            _ => None,
        };
        assert_eq!(ecr("us-west-2", Variants::default(), &env).url, "https://ecr.mock:8443");
        assert_eq!(sts("us-west-2", false, &env).url, "https://all.mock");
        assert_eq!(ecr_public(&env).url, "https://all.mock");
        let ignored = |name: &str| match name {
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" => Some("true".to_string()),
            other => env(other),
        };
        assert_eq!(ecr("us-west-2", Variants::default(), &ignored).url, "https://api.ecr.us-west-2.amazonaws.com");
    }
}
