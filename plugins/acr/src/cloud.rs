//! Which Azure cloud a registry is in, from its host name: the Entra ID authority to ask
//! for tokens and the audiences ACR accepts. Pure.

/// The endpoints of one Azure cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    pub name: &'static str,
    /// The Entra ID (AAD) authority host, `https://…` without a trailing slash.
    pub authority: &'static str,
    /// The Azure Resource Manager audience.
    pub arm: &'static str,
}

/// The audience of ACR's own tokens (every cloud).
pub const ACR_AUDIENCE: &str = "https://containerregistry.azure.net";

const PUBLIC: Cloud =
    Cloud { name: "AzureCloud", authority: "https://login.microsoftonline.com", arm: "https://management.azure.com/" };
const US_GOVERNMENT: Cloud = Cloud {
    name: "AzureUSGovernment",
    authority: "https://login.microsoftonline.us",
    arm: "https://management.usgovcloudapi.net/",
};
const CHINA: Cloud = Cloud {
    name: "AzureChinaCloud",
    authority: "https://login.chinacloudapi.cn",
    arm: "https://management.chinacloudapi.cn/",
};

/// The cloud of `registry` (`name.azurecr.io`, `.azurecr.us`, `.azurecr.cn`); other names
/// (custom domains) are taken to be in the public cloud unless settings say otherwise.
pub fn of(registry: &str) -> Cloud {
    let host = registry.split(':').next().unwrap_or(registry);
    if host.ends_with(".azurecr.us") {
        US_GOVERNMENT
    } else if host.ends_with(".azurecr.cn") {
        CHINA
    } else {
        PUBLIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sovereign_clouds_are_told_apart_by_suffix() {
        assert_eq!(of("myreg.azurecr.io").authority, "https://login.microsoftonline.com");
        assert_eq!(of("govreg.azurecr.us").authority, "https://login.microsoftonline.us");
        assert_eq!(of("cnreg.azurecr.cn").arm, "https://management.chinacloudapi.cn/");
        assert_eq!(of("registry.corp.example").name, "AzureCloud");
    }
}
