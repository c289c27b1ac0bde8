package audit

import "errors"

// ErrTampered is wrapped by Verify's error when the log does not verify.
var ErrTampered = errors.New("audit log does not verify")
