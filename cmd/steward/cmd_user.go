package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"steward/internal/auth"
	"steward/internal/errs"
)

type userOptions struct {
	Role string
	As   string
}

func newUserCommand(g *globalOptions) *cli.Command {
	var o userOptions
	as := &cli.StringFlag{Name: "as", Usage: "`ADMIN` account that makes the change (its password is asked first); needed once an admin account exists", Destination: &o.As}
	oneName := func(run func(ctx context.Context, name string, o userOptions, g *globalOptions, out io.Writer) error) cli.ActionFunc {
		return func(ctx context.Context, cmd *cli.Command) error {
			if err := requireArgs(cmd, 1, "one user name"); err != nil {
				return err
			}
			return run(ctx, cmd.Args().First(), o, g, g.stdout)
		}
	}
	return &cli.Command{
		Name:  "user",
		Usage: "operator accounts: login ID, password, role (req 6, 19, 20)",
		Description: `Operator accounts log in to the web console and stand behind erase's
--as NAME. Each has a role:

   operator   view; run backups, drills and checks; plan, execute and cancel erasure
   approver   view; approve and cancel erasure; read the audit log
   auditor    view and read the audit log (read-only)
   admin      everything, and manage accounts

Passwords follow operators.password in the config (12 characters with
upper-case, lower-case, digit and symbol by default). They are typed
without echo on a terminal (a new one twice), or read one per line from
standard input when it is not a terminal — never from the command line.
With --as, the admin's password comes first, then the new password:

   printf '%s\n%s\n' "$ADMIN_PW" "$NEW_PW" | steward user add sato --role approver --as admin

Until an admin account exists, whoever runs Steward on the host may
manage accounts (that is how the first admin is made); afterwards --as
ADMIN is needed. operators.lockout.after_failures wrong passwords in a
row lock an account until an admin unlocks it (or operators.lockout.period
passes). Every change, login and failure is in the audit log.`,
		Commands: []*cli.Command{{
			Name:      "add",
			Usage:     "add an operator account (asks for its password)",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{as,
				&cli.StringFlag{Name: "role", Usage: "`ROLE`: operator, approver, auditor or admin", Destination: &o.Role}},
			Action: oneName(runUserAdd),
		}, {
			Name:      "passwd",
			Usage:     "change an account's password (its own current password, or --as ADMIN's, is asked first)",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{&cli.StringFlag{Name: "as", Usage: "`ADMIN` account that sets the password (default: NAME, with its current password)", Destination: &o.As}},
			Action:    oneName(runUserPasswd),
		}, {
			Name:      "disable",
			Usage:     "stop an account from logging in (its history stays)",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{as},
			Action:    oneName(runUserDisable),
		}, {
			Name:      "enable",
			Usage:     "let a disabled account log in again",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{as},
			Action:    oneName(runUserEnable),
		}, {
			Name:      "unlock",
			Usage:     "end an account's lockout after failed logins",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{as},
			Action:    oneName(runUserUnlock),
		}, {
			Name:  "list",
			Usage: "list the accounts: role, disabled, locked, failed logins, last password change",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runUserList(ctx, g, g.stdout)
			},
		}},
	}
}

func runUserAdd(ctx context.Context, name string, o userOptions, g *globalOptions, out io.Writer) error {
	if o.Role == "" {
		return errs.Usage("user add: give --role (operator, approver, auditor or admin)")
	}
	role, err := auth.ParseRole(o.Role)
	if err != nil {
		return errs.Usage("user add: --role: %v", err)
	}
	if err := auth.CheckName(name); err != nil {
		return errs.Usage("user add: %v", err)
	}
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	pw := g.passwords()
	by, err := a.UserAdmin(ctx, o.As, "user add", pw.loginPassword)
	if err != nil {
		return err
	}
	secret, err := pw.readNew("new password for " + name)
	if err != nil {
		return err
	}
	if err := a.Auth().Add(ctx, name, role, secret, by); err != nil {
		return fmt.Errorf("user add %s: %w", name, err)
	}
	fmt.Fprintf(out, "operator account %s added (role %s)\n", name, role)
	return nil
}

func runUserPasswd(ctx context.Context, name string, o userOptions, g *globalOptions, out io.Writer) error {
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	pw := g.passwords()
	by, err := a.PasswordChanger(ctx, name, o.As, "user passwd", pw.loginPassword)
	if err != nil {
		return err
	}
	secret, err := pw.readNew("new password for " + name)
	if err != nil {
		return err
	}
	if err := a.Auth().SetPassword(ctx, name, secret, by); err != nil {
		return fmt.Errorf("user passwd %s: %w", name, err)
	}
	fmt.Fprintf(out, "password of %s changed\n", name)
	return nil
}

// userChange runs one admin change (disable, enable, unlock) of name.
func userChange(ctx context.Context, name string, o userOptions, g *globalOptions, command string,
	change func(svc *auth.Service, ctx context.Context, name, by string) error) error {
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	by, err := a.UserAdmin(ctx, o.As, command, g.passwords().loginPassword)
	if err != nil {
		return err
	}
	if err := change(a.Auth(), ctx, name, by); err != nil {
		return fmt.Errorf("%s %s: %w", command, name, err)
	}
	return nil
}

func runUserDisable(ctx context.Context, name string, o userOptions, g *globalOptions, out io.Writer) error {
	if err := userChange(ctx, name, o, g, "user disable", (*auth.Service).Disable); err != nil {
		return err
	}
	fmt.Fprintf(out, "operator account %s disabled\n", name)
	return nil
}

func runUserEnable(ctx context.Context, name string, o userOptions, g *globalOptions, out io.Writer) error {
	if err := userChange(ctx, name, o, g, "user enable", (*auth.Service).Enable); err != nil {
		return err
	}
	fmt.Fprintf(out, "operator account %s enabled\n", name)
	return nil
}

func runUserUnlock(ctx context.Context, name string, o userOptions, g *globalOptions, out io.Writer) error {
	if err := userChange(ctx, name, o, g, "user unlock", (*auth.Service).Unlock); err != nil {
		return err
	}
	fmt.Fprintf(out, "operator account %s unlocked\n", name)
	return nil
}

func runUserList(ctx context.Context, g *globalOptions, out io.Writer) error {
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	list, err := a.ListUsers(ctx)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, list) // a listing is one array on one line
	}
	if len(list) == 0 {
		fmt.Fprintln(out, "no operator accounts (add the first admin with `steward user add NAME --role admin`)")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tFAILED LOGINS\tPASSWORD CHANGED")
	for _, u := range list {
		state := "active"
		switch {
		case u.Disabled:
			state = "disabled"
		case u.Locked && u.LockedUntil != "":
			state = "locked until " + u.LockedUntil
		case u.Locked:
			state = "locked until unlocked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", u.Name, u.Role, state, u.Failures, u.PasswordChanged)
	}
	return tw.Flush()
}
