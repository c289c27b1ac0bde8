// Package archtest holds the test that keeps Steward's layers apart (the
// depguard rule of STYLE.md, as a plain Go test so that it needs no linter):
// shared machinery under internal/ never imports a capability, and a
// capability imports another only where this file allows it.
package archtest
