// Package keys holds Steward's master key, seals and unseals secrets with it
// (AES-256-GCM), makes the signing certificate, and destroys key material
// when a contract ends. Nothing here prints a secret: Secret redacts itself.
package keys
