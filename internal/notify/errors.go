package notify

import "errors"

// ErrNotDelivered means an alert reached none, or not all, of its
// channels; the error names each channel that failed and why.
var ErrNotDelivered = errors.New("alert not delivered")
