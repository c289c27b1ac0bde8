package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name, pw string
		// want is the whole message ("" for an accepted password).
		want string
	}{
		{"all four classes", "Correct-Horse-7", ""},
		{"unicode letters and symbol", "Пароль-надёжный-9", ""},
		{"no upper", "correct-horse-7", "password has no upper-case letter"},
		{"no lower", "CORRECT-HORSE-7", "password has no lower-case letter"},
		{"no digit", "Correct-Horse-X", "password has no digit"},
		{"no symbol", "CorrectHorse77", "password has no symbol"},
		{"too short", "Ab1!Ab1!Ab1", "password is too short (11 characters, at least 12)"},
		{"example of the brief", "Abcdefghi", "password is too short (9 characters, at least 12) and has no digit and no symbol"},
		{"three missing", "abcdefghijklm", "password has no upper-case letter, no digit and no symbol"},
		{"empty", "", "password is too short (0 characters, at least 12) and has no upper-case letter, no lower-case letter, no digit and no symbol"},
		{"too long", "Aa1!" + strings.Repeat("x", MaxPasswordLength), "password is too long (more than 1024 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.pw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.pw, err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Check(%q) = %v, want %q", tt.pw, err, tt.want)
			}
			if !errors.Is(err, ErrWeakPassword) {
				t.Fatalf("Check(%q) error does not wrap ErrWeakPassword", tt.pw)
			}
		})
	}
}

func TestPolicyConfigurable(t *testing.T) {
	p := Policy{MinLength: 8, RequireDigit: true}
	if err := p.Check("abcdefg1"); err != nil {
		t.Fatalf("lower-case and a digit, classes not required: %v", err)
	}
	if err := p.Check("abcdefgh"); err == nil || err.Error() != "password has no digit" {
		t.Fatalf("Check = %v, want only the digit missing", err)
	}
}

func TestPasswordSameAsName(t *testing.T) {
	p := Policy{MinLength: 8}
	for _, pw := range []string{"Operator.Tanaka", "operator.tanaka", " operator.tanaka "} {
		if err := p.checkFor("operator.tanaka", pw); !errors.Is(err, ErrWeakPassword) || !strings.Contains(err.Error(), "same as the user name") {
			t.Errorf("checkFor(name, %q) = %v, want a refusal naming the user name", pw, err)
		}
	}
}

func TestCan(t *testing.T) {
	want := map[Role][]Action{
		RoleAuditor:  {ActionView, ActionViewAudit},
		RoleOperator: {ActionView, ActionRunBackup, ActionRunDrill, ActionPlanErase, ActionExecuteErase, ActionCancelErase},
		RoleApprover: {ActionView, ActionApproveErase, ActionCancelErase, ActionViewAudit},
		RoleAdmin:    Actions,
	}
	s := &Service{}
	for _, r := range Roles {
		for _, a := range Actions {
			allowed := false
			for _, w := range want[r] {
				allowed = allowed || w == a
			}
			if got := s.Can(Operator{Name: "x", Role: r}, a); got != allowed {
				t.Errorf("Can(%s, %s) = %v, want %v", r, a, got, allowed)
			}
		}
	}
	if s.Can(Operator{Name: "x", Role: "root"}, ActionView) {
		t.Error("an unknown role may view")
	}
}

func TestParseRole(t *testing.T) {
	for _, s := range []string{"operator", "Approver", " AUDITOR", "admin"} {
		if _, err := ParseRole(s); err != nil {
			t.Errorf("ParseRole(%q): %v", s, err)
		}
	}
	if _, err := ParseRole("root"); err == nil || !strings.Contains(err.Error(), "operator, approver, auditor, admin") {
		t.Errorf("ParseRole(root) = %v, want an error listing the roles", err)
	}
}
