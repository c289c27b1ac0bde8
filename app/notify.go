package app

import "steward/internal/notify"

// Notifier sends alerts through the config's notify channels (none
// configured: it sends nothing), recording each in the audit log. An
// unresolvable secret is an error that names its field.
func (a *App) Notifier() (*notify.Notifier, error) {
	return notify.New(notify.Deps{Config: a.Config.Notify, Contract: a.Config.Contract.ID, Keys: a.Keys, Audit: a.Audit, Clock: a.Clock, Log: a.Log})
}
