package recovery

import "errors"

// ErrNoRecipients means the config names no age recipient, so no kit can
// be written.
var ErrNoRecipients = errors.New("no recovery kit recipients: list the age public keys (age1…) of the kit's holders in recovery.recipients")

// ErrKitExists means the kit's file exists already: a kit is never
// overwritten.
var ErrKitExists = errors.New("the kit file exists already (a kit is never overwritten): name a new file")

// ErrNoKit means no kit has been made (the catalog records none).
var ErrNoKit = errors.New("no recovery kit has been made")

// ErrBadKit means a decrypted kit is not a kit this version reads.
var ErrBadKit = errors.New("not a Steward recovery kit")
