# Pinned versions of the tools Steward runs and tests against.
RESTIC_VERSION=v0.18.1
VERSITYGW_VERSION=v1.8.0
GOVULNCHECK_VERSION=v1.9.0
# honnef.co/go/tools (staticcheck 2026.2.2); builds with Go 1.26.
STATICCHECK_VERSION=v0.8.2
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
DEBIAN_PACKAGES="postgresql poppler-utils fonts-ipaexfont-gothic tzdata chromium"
# The patched Go toolchain (go.mod's toolchain line); the go command fetches
# it through the module proxy on first use. A machine's own Go ignores the
# toolchain line unless this is exported.
export GOTOOLCHAIN=go1.26.10
