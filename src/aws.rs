//! AWS access shared by every AWS component: one `{region, profile, endpoint}` setting, the SDK
//! configuration resolved from the standard chain (environment, shared config and credentials
//! files, web identity, ECS and EC2 instance roles), and the clients built from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::{BackoffConfig, ClientOptions, CredentialProvider, ObjectStore, RetryConfig};
use tokio::sync::OnceCell;

use crate::error::{Error, Result};
use crate::lock::lock;

/// Where AWS is and who we are there; every field falls back to the standard AWS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region (`--region`; else `AWS_REGION`, the profile, ...; else us-east-1 for S3).
    pub region: Option<String>,
    /// Named profile of the shared config and credentials files (`--aws-profile`).
    pub profile: Option<String>,
    /// Endpoint override (`--endpoint-url`; else `AWS_ENDPOINT_URL_<SERVICE>` or
    /// `AWS_ENDPOINT_URL`). Custom endpoints use path-style S3 addressing.
    pub endpoint_url: Option<String>,
    /// Longest wait for one object request before it is retried (default 30 s).
    pub read_timeout: Option<Duration>,
}

/// The region used when no setting names one.
const FALLBACK_REGION: &str = "us-east-1";

/// Lazily resolved AWS configuration and the clients made from it, shared by a run.
#[derive(Debug, Default)]
pub struct AwsAccess {
    settings: AwsSettings,
    config: OnceCell<SdkConfig>,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl AwsAccess {
    /// Access with these settings; nothing is resolved until first used.
    pub fn new(settings: AwsSettings) -> Self {
        let source = match &settings.profile {
            Some(profile) => format!(
                "profile {profile} (--aws-profile/--profile); is it in ~/.aws/config or \
                 ~/.aws/credentials, with keys or a role?"
            ),
            None => "the default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
                     AWS_PROFILE, ~/.aws, web identity, ECS or EC2 instance role"
                .to_string(),
        };
        let _ = CREDENTIAL_SOURCE.set(source);
        AwsAccess {
            settings,
            ..AwsAccess::default()
        }
    }

    /// The SDK configuration, resolved once.
    pub async fn config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(profile) = &self.settings.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(region) = &self.settings.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                loader.load().await
            })
            .await
    }

    /// The endpoint for a service: the flag, else `AWS_ENDPOINT_URL_<SERVICE>`, else
    /// `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self, service_env: &str) -> Option<String> {
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        self.settings
            .endpoint_url
            .clone()
            .or_else(|| from_env(&format!("AWS_ENDPOINT_URL_{service_env}")))
            .or_else(|| from_env("AWS_ENDPOINT_URL"))
    }

    /// The region in force.
    pub async fn region(&self) -> String {
        self.config()
            .await
            .region()
            .map_or_else(|| FALLBACK_REGION.to_string(), |r| r.to_string())
    }

    /// An S3 client for listing (path-style addressing when the endpoint is overridden). SDK
    /// retries are off: every call goes through [`crate::retry`], the one retry policy.
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        let config = self.config().await;
        let mut builder = aws_sdk_s3::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if config.region().is_none() {
            builder = builder.region(Region::new(FALLBACK_REGION));
        }
        if let Some(endpoint) = self.endpoint("S3") {
            builder = builder.endpoint_url(endpoint).force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    /// A DynamoDB client. The SDK's own retries are off: autorevoke's loop ([`crate::retry`])
    /// classifies and retries every call (exponential backoff with jitter), so none is retried
    /// twice over and every call gets the same policy.
    pub async fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        let config = self.config().await;
        let mut builder = aws_sdk_dynamodb::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if config.region().is_none() {
            builder = builder.region(Region::new(FALLBACK_REGION));
        }
        if let Some(endpoint) = self.endpoint("DYNAMODB") {
            builder = builder.endpoint_url(endpoint);
        }
        aws_sdk_dynamodb::Client::from_conf(builder.build())
    }

    /// A Kinesis Data Streams client (`watch`). SDK retries are off, as for DynamoDB.
    pub async fn kinesis_client(&self) -> aws_sdk_kinesis::Client {
        let config = self.config().await;
        let mut builder = aws_sdk_kinesis::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if config.region().is_none() {
            builder = builder.region(Region::new(FALLBACK_REGION));
        }
        if let Some(endpoint) = self.endpoint("KINESIS") {
            builder = builder.endpoint_url(endpoint);
        }
        aws_sdk_kinesis::Client::from_conf(builder.build())
    }

    /// A WAFv2 client for CLOUDFRONT-scope rule groups, which live in us-east-1 whatever the
    /// other settings say. SDK retries are off, as for DynamoDB.
    pub async fn wafv2_client(&self) -> aws_sdk_wafv2::Client {
        let config = self.config().await;
        let mut builder = aws_sdk_wafv2::config::Builder::from(config)
            .region(Region::new("us-east-1"))
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if let Some(endpoint) = self.endpoint("WAFV2") {
            builder = builder.endpoint_url(endpoint);
        }
        aws_sdk_wafv2::Client::from_conf(builder.build())
    }

    /// A CloudFront KeyValueStore (data plane) client: SigV4a-signed, as the service's endpoint
    /// rules ask, SDK retries off. With an endpoint override (`--endpoint-url`, else
    /// `AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE` or `AWS_ENDPOINT_URL`) the requests go to
    /// that URL as given: the service's rules would put the account id in front of its host.
    pub async fn kvs_client(&self) -> aws_sdk_cloudfrontkeyvaluestore::Client {
        let config = self.config().await;
        let mut builder = aws_sdk_cloudfrontkeyvaluestore::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if config.region().is_none() {
            builder = builder.region(Region::new(FALLBACK_REGION));
        }
        if let Some(endpoint) = self.endpoint("CLOUDFRONT_KEYVALUESTORE") {
            builder = builder.endpoint_resolver(EndpointAsGiven {
                url: endpoint,
                rules: aws_sdk_cloudfrontkeyvaluestore::config::endpoint::DefaultResolver::new(),
            });
        }
        aws_sdk_cloudfrontkeyvaluestore::Client::from_conf(builder.build())
    }

    /// The object store reading objects of `bucket` (one per bucket, reused), with retries
    /// and backoff on throttling, 5xx and timeouts.
    pub async fn s3_store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        if let Some(store) = lock(&self.stores).get(bucket) {
            return Ok(Arc::clone(store));
        }
        let config = self.config().await;
        self.s3_store_from(config, bucket)
    }

    /// As [`AwsAccess::s3_store`], without waiting: for code that cannot (an object store
    /// registry). The SDK configuration must have been loaded ([`AwsAccess::config`]) before.
    pub fn s3_store_now(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        if let Some(store) = lock(&self.stores).get(bucket) {
            return Ok(Arc::clone(store));
        }
        let config = self.config.get().ok_or_else(|| Error::Location {
            location: format!("s3://{bucket}"),
            reason: "the AWS configuration was not loaded before the store was needed".into(),
        })?;
        self.s3_store_from(config, bucket)
    }

    fn s3_store_from(&self, config: &SdkConfig, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let credentials = config.credentials_provider().ok_or_else(|| Error::Aws {
            kind: crate::error::AwsErrorKind::NoCredentials,
            context: format!("s3://{bucket}"),
            message: "no AWS credentials provider is configured".into(),
        })?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(
                config
                    .region()
                    .map_or_else(|| FALLBACK_REGION.to_string(), |r| r.to_string()),
            )
            .with_credentials(Arc::new(SdkCredentials(credentials)))
            .with_client_options(
                ClientOptions::new().with_timeout(
                    self.settings
                        .read_timeout
                        .unwrap_or(Duration::from_secs(30)),
                ),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(15),
                    base: 2.0,
                },
                max_retries: 6,
                retry_timeout: Duration::from_secs(180),
            });
        if let Some(endpoint) = self.endpoint("S3") {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(true)
                .with_virtual_hosted_style_request(false);
        }
        let store: Arc<dyn ObjectStore> =
            Arc::new(builder.build().map_err(|e| Error::Location {
                location: format!("s3://{bucket}"),
                reason: format!("cannot configure S3 access: {e}"),
            })?);
        lock(&self.stores).insert(bucket.to_string(), Arc::clone(&store));
        Ok(store)
    }
}

/// An SDK error as the library's error: classified by its code (for the exit code), with the
/// full message and what was being done.
pub fn sdk_error<E, R>(
    context: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let (kind, message) = match (e.code(), e.message()) {
        (Some(code), message) => (
            crate::error::AwsErrorKind::classify(Some(code), ""),
            match message {
                Some(message) => format!("{code}: {message}"),
                None => code.to_string(),
            },
        ),
        (None, _) if is_credentials_error(e) => (
            crate::error::AwsErrorKind::NoCredentials,
            format!(
                "no valid AWS credentials ({}); looked in {}",
                error_chain(e),
                CREDENTIAL_SOURCE
                    .get()
                    .map_or("the default chain", String::as_str)
            ),
        ),
        (None, _) => {
            let message = error_chain(e);
            (
                crate::error::AwsErrorKind::classify(None, &message),
                message,
            )
        }
    };
    Error::Aws {
        kind,
        context: context.to_string(),
        message,
    }
}

/// Where credentials were looked for (the profile, or the default chain), for the one line a
/// failure to find them prints.
static CREDENTIAL_SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// True when `e` failed because no credentials could be loaded: retrying cannot help.
pub fn is_credentials_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// An error and its causes on one line, each message once (the SDK repeats them and adds
/// debug dumps of requests).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    // One line: the SDK's "Attempted:" lists come one provider a line.
    let line = parts
        .join(": ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match line.char_indices().nth(400) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// The KeyValueStore endpoint of an override: the service's own rules (for the signing scheme
/// and its properties), with the URL replaced by the one given.
#[derive(Debug)]
struct EndpointAsGiven {
    url: String,
    rules: aws_sdk_cloudfrontkeyvaluestore::config::endpoint::DefaultResolver,
}

impl aws_sdk_cloudfrontkeyvaluestore::config::endpoint::ResolveEndpoint for EndpointAsGiven {
    fn resolve_endpoint<'a>(
        &'a self,
        params: &'a aws_sdk_cloudfrontkeyvaluestore::config::endpoint::Params,
    ) -> aws_sdk_cloudfrontkeyvaluestore::config::endpoint::EndpointFuture<'a> {
        use aws_sdk_cloudfrontkeyvaluestore::config::endpoint::{EndpointFuture, ResolveEndpoint};
        EndpointFuture::new(async move {
            let resolved = ResolveEndpoint::resolve_endpoint(&self.rules, params).await?;
            Ok(resolved.into_builder().url(self.url.clone()).build())
        })
    }
}

/// Hands the SDK's credential chain to `object_store`, so both resolve credentials the same
/// way (object_store alone does not read profiles from the shared files).
#[derive(Debug)]
struct SdkCredentials(SharedCredentialsProvider);

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let c = self
            .0
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        }))
    }
}
