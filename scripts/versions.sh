# Pinned versions of the tools Steward runs and tests against.
RESTIC_VERSION=v0.18.1
VERSITYGW_VERSION=v1.8.0
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
DEBIAN_PACKAGES="postgresql poppler-utils fonts-ipaexfont-gothic"
