// Package cloudtest holds what the tests of keel push and keel run share
// to stand in for a cloud: the SDKs' standard configuration pointed at
// local servers, and the error bodies each API documents. It is imported
// by tests only.
package cloudtest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// AWSEnv points aws-sdk-go-v2's default configuration at local servers:
// static credentials and region eu-west-1 from the environment, no shared
// files, no instance metadata, and each AWS_ENDPOINT_URL_* of endpoints
// (e.g. "EC2": URL).
func AWSEnv(t *testing.T, endpoints map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "eu-west-1", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	for service, url := range endpoints {
		t.Setenv("AWS_ENDPOINT_URL_"+service, url)
	}
}

// EC2Error is the body of an EC2 query API error.
func EC2Error(code, msg string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>req-1</RequestID></Response>`, code, msg)
}

// GCEError is the body of a Google API error.
func GCEError(code int, reason, msg string) string {
	return fmt.Sprintf(`{"error":{"code":%d,"message":%q,"errors":[{"reason":%q,"message":%q}]}}`, code, msg, reason, msg)
}

// ARMError is the body of an Azure Resource Manager error.
func ARMError(code, msg string) string {
	return fmt.Sprintf(`{"error":{"code":%q,"message":%q}}`, code, msg)
}

// Token is an Azure credential that hands out a fixed token, or fails
// with Err.
type Token struct{ Err error }

// GetToken implements azcore.TokenCredential.
func (f Token) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if f.Err != nil {
		return azcore.AccessToken{}, f.Err
	}
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// ARMOptions point an ARM client at srv (TLS: the SDK sends tokens over
// HTTPS only) with retries that do not wait.
func ARMOptions(srv *httptest.Server) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: srv.URL,
			Services:                     map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.test"}},
		},
		Transport: srv.Client(),
		Retry:     policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond},
	}}
}
