package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what an operator account may do (see Can).
type Role string

// The roles. An auditor only reads.
const (
	RoleOperator Role = "operator"
	RoleApprover Role = "approver"
	RoleAuditor  Role = "auditor"
	RoleAdmin    Role = "admin"
)

// Roles lists every role, in the order help texts name them.
var Roles = []Role{RoleOperator, RoleApprover, RoleAuditor, RoleAdmin}

// ParseRole returns the role named s (case-insensitive).
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (roles: operator, approver, auditor, admin)", s)
}

// Action is something an operator may be allowed to do.
type Action string

// The actions Can decides.
const (
	ActionView         Action = "view"          // overview, history, reports, certificates
	ActionRunBackup    Action = "run_backup"    // start a backup or a repository check
	ActionRunDrill     Action = "run_drill"     // start a restore drill
	ActionPlanErase    Action = "plan_erase"    // make an erase plan
	ActionApproveErase Action = "approve_erase" // approve an erase plan (second person)
	ActionExecuteErase Action = "execute_erase" // execute an approved erase plan
	ActionCancelErase  Action = "cancel_erase"  // cancel an erase plan
	ActionViewAudit    Action = "view_audit"    // read and export the audit log
	ActionManageUsers  Action = "manage_users"  // add, change, disable and unlock accounts
)

// Actions lists every action.
var Actions = []Action{ActionView, ActionRunBackup, ActionRunDrill, ActionPlanErase, ActionApproveErase,
	ActionExecuteErase, ActionCancelErase, ActionViewAudit, ActionManageUsers}

// permissions is the role table (docs/operators.md shows it). An admin
// may do everything.
var permissions = map[Role][]Action{
	RoleAuditor:  {ActionView, ActionViewAudit},
	RoleOperator: {ActionView, ActionRunBackup, ActionRunDrill, ActionPlanErase, ActionExecuteErase, ActionCancelErase},
	RoleApprover: {ActionView, ActionApproveErase, ActionCancelErase, ActionViewAudit},
	RoleAdmin:    Actions,
}

// Allows says whether role r may do action.
func (r Role) Allows(action Action) bool {
	return slices.Contains(permissions[r], action)
}
