//! Retrying AWS calls: which failures are worth another attempt (pure, tested offline) and a
//! bounded exponential backoff loop around any async call.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rand::Rng;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again after a backoff.
    Retry,
    /// Give up: retrying cannot help.
    Fail,
}

/// Error codes that mean "too fast" or "try again" on DynamoDB, WAFv2, S3 and Kinesis.
const RETRYABLE_CODES: [&str; 15] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "WAFOptimisticLockException",
    "WAFUnavailableEntityException",
    "WAFInternalErrorException",
    "LimitExceededException",
    // A KeyValueStore changed since its ETag was read: read it again and retry.
    "ConflictException",
    // Kinesis: the stream's KMS key is being called too fast.
    "KMSThrottlingException",
];

/// Classifies an error by its service code, HTTP status and kind.
pub fn classify(code: Option<&str>, http_status: Option<u16>, transient: bool) -> Verdict {
    if transient || code.is_some_and(|c| RETRYABLE_CODES.contains(&c)) {
        return Verdict::Retry;
    }
    match http_status {
        Some(429) | Some(500..=599) => Verdict::Retry,
        _ => Verdict::Fail,
    }
}

/// Classifies an SDK error: timeouts and connection failures are transient; service errors go
/// by code and status.
pub fn classify_sdk<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Verdict
where
    R: HttpStatus,
{
    match e {
        // No credentials: no attempt can succeed.
        SdkError::DispatchFailure(d)
            if d.as_connector_error()
                .is_some_and(|c| crate::aws::is_credentials_error(c)) =>
        {
            Verdict::Fail
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Verdict::Retry,
        SdkError::ResponseError(r) => classify(None, r.raw().status(), false),
        SdkError::ServiceError(s) => classify(s.err().code(), s.raw().status(), false),
        _ => Verdict::Fail,
    }
}

/// The HTTP status of a raw response, for classification.
pub trait HttpStatus {
    /// The status code, if there was a response.
    fn status(&self) -> Option<u16>;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

/// Attempts and delays of a retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 10,
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before attempt `n` (1-based, n >= 2): exponential, capped at `max`, with
    /// jitter (a random point in its upper half), so writers that collided do not collide again.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(2)))
            .min(self.max);
        let millis = u64::try_from(exp.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

/// Calls `op` until it succeeds, fails for good, or the attempts run out; returns the last
/// result and the attempts made.
pub async fn with_backoff<T, E, F, Fut>(
    backoff: Backoff,
    verdict: impl Fn(&E) -> Verdict,
    mut op: F,
) -> (Result<T, E>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        let result = op().await;
        match &result {
            Err(e) if attempt < backoff.attempts && verdict(e) == Verdict::Retry => {
                attempt += 1;
                let delay = backoff.delay(attempt);
                tracing::debug!(
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "retrying after a retryable failure"
                );
                tokio::time::sleep(delay).await;
            }
            _ => return (result, attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_5xx_and_lock_conflicts_are_retried() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "WAFOptimisticLockException",
        ] {
            assert_eq!(
                classify(Some(code), Some(400), false),
                Verdict::Retry,
                "{code}"
            );
        }
        assert_eq!(classify(None, Some(503), false), Verdict::Retry);
        assert_eq!(classify(None, Some(429), false), Verdict::Retry);
        assert_eq!(classify(None, None, true), Verdict::Retry);
    }

    #[test]
    fn client_errors_are_not_retried() {
        for code in [
            "ConditionalCheckFailedException",
            "ValidationException",
            "AccessDeniedException",
            "ResourceNotFoundException",
        ] {
            assert_eq!(
                classify(Some(code), Some(400), false),
                Verdict::Fail,
                "{code}"
            );
        }
    }

    #[test]
    fn synthetic_sdk_errors_are_classified() {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let service = |code: &str, status: u16| {
            let err = PutItemError::generic(ErrorMetadata::builder().code(code).build());
            let raw = Response::new(
                StatusCode::try_from(status).expect("status"),
                SdkBody::empty(),
            );
            SdkError::service_error(err, raw)
        };
        assert_eq!(
            classify_sdk(&service("ProvisionedThroughputExceededException", 400)),
            Verdict::Retry
        );
        assert_eq!(
            classify_sdk(&service("InternalServerError", 500)),
            Verdict::Retry
        );
        assert_eq!(
            classify_sdk(&service("ConditionalCheckFailedException", 400)),
            Verdict::Fail
        );
        let timeout: SdkError<PutItemError, Response> = SdkError::timeout_error("slow");
        assert_eq!(classify_sdk(&timeout), Verdict::Retry);
    }

    #[test]
    fn every_service_s_busy_answers_are_retried_and_its_refusals_are_not() {
        use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
        use aws_sdk_wafv2::operation::update_rule_group::UpdateRuleGroupError;
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let raw = |status: u16| {
            Response::new(
                StatusCode::try_from(status).expect("status"),
                SdkBody::empty(),
            )
        };
        let waf = |code: &str, status: u16| {
            let err = UpdateRuleGroupError::generic(ErrorMetadata::builder().code(code).build());
            classify_sdk(&SdkError::service_error(err, raw(status)))
        };
        let s3 = |code: &str, status: u16| {
            let err = ListObjectsV2Error::generic(ErrorMetadata::builder().code(code).build());
            classify_sdk(&SdkError::service_error(err, raw(status)))
        };
        assert_eq!(waf("WAFInternalErrorException", 500), Verdict::Retry);
        assert_eq!(waf("WAFOptimisticLockException", 400), Verdict::Retry);
        assert_eq!(waf("WAFUnavailableEntityException", 400), Verdict::Retry);
        assert_eq!(waf("WAFLimitsExceededException", 400), Verdict::Fail);
        assert_eq!(waf("WAFNonexistentItemException", 400), Verdict::Fail);
        assert_eq!(s3("SlowDown", 503), Verdict::Retry);
        assert_eq!(s3("InternalError", 500), Verdict::Retry);
        assert_eq!(s3("AccessDenied", 403), Verdict::Fail);
        assert_eq!(s3("NoSuchBucket", 404), Verdict::Fail);
        assert_eq!(
            classify(Some("ThrottlingException"), Some(400), false),
            Verdict::Retry
        );
        assert_eq!(
            classify(Some("LimitExceededException"), Some(400), false),
            Verdict::Retry
        );
    }

    #[test]
    fn a_key_value_store_s_etag_conflict_is_retried_and_its_refusals_are_not() {
        use aws_sdk_cloudfrontkeyvaluestore::operation::update_keys::UpdateKeysError;
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let kvs = |code: &str, status: u16| {
            let err = UpdateKeysError::generic(ErrorMetadata::builder().code(code).build());
            let raw = Response::new(
                StatusCode::try_from(status).expect("status"),
                SdkBody::empty(),
            );
            classify_sdk(&SdkError::service_error(err, raw))
        };
        assert_eq!(kvs("ConflictException", 409), Verdict::Retry);
        assert_eq!(kvs("InternalServerException", 500), Verdict::Retry);
        assert_eq!(kvs("ThrottlingException", 429), Verdict::Retry);
        assert_eq!(kvs("ServiceQuotaExceededException", 402), Verdict::Fail);
        assert_eq!(kvs("ValidationException", 400), Verdict::Fail);
        assert_eq!(kvs("AccessDeniedException", 403), Verdict::Fail);
        assert_eq!(kvs("ResourceNotFoundException", 404), Verdict::Fail);
    }

    #[test]
    fn delays_grow_exponentially_with_jitter_up_to_the_cap() {
        let b = Backoff {
            attempts: 10,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let (d2, d3, d4, d9) = (b.delay(2), b.delay(3), b.delay(4), b.delay(9));
            assert!((50..=100).contains(&d2.as_millis()), "{d2:?}");
            assert!((100..=200).contains(&d3.as_millis()), "{d3:?}");
            assert!((200..=400).contains(&d4.as_millis()), "{d4:?}");
            assert!((500..=1000).contains(&d9.as_millis()), "{d9:?}");
        }
    }

    #[tokio::test]
    async fn the_loop_stops_at_success_failure_or_the_last_attempt() {
        let quick = Backoff {
            attempts: 4,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let mut n = 0;
        let (r, attempts) = with_backoff(
            quick,
            |_: &&str| Verdict::Retry,
            || {
                n += 1;
                let ok = n >= 3;
                async move { if ok { Ok(n) } else { Err("busy") } }
            },
        )
        .await;
        assert_eq!((r, attempts), (Ok(3), 3));
        let (r, attempts) = with_backoff(
            quick,
            |_: &&str| Verdict::Retry,
            || async { Err::<(), _>("busy") },
        )
        .await;
        assert_eq!((r, attempts), (Err("busy"), 4));
        let (r, attempts) = with_backoff(
            quick,
            |_: &&str| Verdict::Fail,
            || async { Err::<(), _>("bad") },
        )
        .await;
        assert_eq!((r, attempts), (Err("bad"), 1));
    }
}
