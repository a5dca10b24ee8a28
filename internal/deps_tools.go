//go:build tools

// Package internal pins dependencies used by packages being written in
// parallel, so that go.mod is settled before that work starts. Delete this
// file once every pinned module is imported by real code.
package internal

import (
	_ "github.com/anthropics/anthropic-sdk-go"
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	_ "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
)
