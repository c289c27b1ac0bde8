package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"steward/internal/audit"
)

// artifactsDir is where a test keeps what a person may want to look at
// afterwards (screenshots): $STEWARD_ARTIFACTS/<test>, else
// testdata/artifacts/<test> (ignored by git). It is emptied first.
func artifactsDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("STEWARD_ARTIFACTS")
	if base == "" {
		base = filepath.Join("testdata", "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(base, t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserContext starts headless Chromium (Debian's chromium) with a
// fresh profile and no background traffic.
func browserContext(t *testing.T, parent context.Context) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: run scripts/setup.sh (it installs Debian's chromium package): %v", err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000))
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// TestConsoleInBrowser is issue 15's browser test: headless Chromium on
// the real `steward serve` with operator accounts made by `steward user
// add`. An operator is
// locked out after 5 wrong passwords (and the right one is then refused);
// an approver (not the planner) logs in, sees the overview in Japanese,
// and approves the erase plan made with the CLI by typing the contract
// id; screenshots go to artifactsDir. The audit log then holds each
// login, lockout, view and action.
func TestConsoleInBrowser(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(`contract: {id: T-1, customer: 市役所, service: s, end_date: 2099-03-31, time_zone: Asia/Tokyo}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
erase: {approvers: [bob], cooling_off: 1h}
`, filepath.Join(repoRoot(t), "bin", "restic"), data)), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	// The accounts, made with the CLI (no admin exists, so the state dir's
	// owner may), then the plan, made by alice logged in.
	passwords := map[string]string{"alice": "Alice-Plans-2026!", "carol": "Carol-Operates-2026!", "bob": "Bob-Approves-2026!"}
	for _, u := range [][2]string{{"alice", "operator"}, {"carol", "operator"}, {"bob", "approver"}} {
		if code, out, errOut := stewardRun(t, dir, passwords[u[0]]+"\n", "user", "add", u[0], "--role", u[1]); code != 0 {
			t.Fatalf("user add %s: %d\n%s%s", u[0], code, out, errOut)
		}
	}
	code, out, errOut := stewardRun(t, dir, passwords["alice"]+"\n", "erase", "plan", "--as", "alice")
	if code != 0 {
		t.Fatalf("erase plan: %d\n%s%s", code, out, errOut)
	}
	planID := regexp.MustCompile(`EP-[0-9a-f-]+`).FindString(out)

	d := startServe(t, dir, nil)
	var base string
	d.waitUntil(t, "the console's address", 30*time.Second, func() bool {
		m := regexp.MustCompile(`web console at (http://127\.0\.0\.1:\d+)/ui/`).FindStringSubmatch(d.out.String())
		if m != nil {
			base = m[1]
		}
		return base != ""
	})

	shots := artifactsDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ctx = browserContext(t, ctx)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	// login submits the login form and returns the error it shows ("":
	// none, the overview is shown).
	login := func(name, password string) string {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SendKeys(chromedp.ID("name"), name), chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Click(chromedp.ID("submit")), chromedp.WaitVisible(chromedp.CSS("#error, #days-left"))); err != nil {
			t.Fatalf("login as %s: %v", name, err)
		}
		msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("error") || {}).textContent || ""`))
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}

	// Five wrong passwords lock carol out; then the right one is refused.
	for i := 1; i <= 5; i++ {
		msg := login("carol", "Wrong-Password-9!")
		want := "ログインIDまたはパスワードが正しくありません"
		if i == 5 {
			want = "ロックされています"
		}
		if !strings.Contains(msg, want) {
			t.Fatalf("wrong password %d: the page says %q, want %q", i, msg, want)
		}
	}
	if msg := login("carol", passwords["carol"]); !strings.Contains(msg, "ロックされています") {
		t.Fatalf("the right password after the lockout: the page says %q, want the lockout", msg)
	}
	if err := chromedp.Do(ctx, shot("01-locked-out")); err != nil {
		t.Fatal(err)
	}

	// bob, an approver who did not make the plan, sees the overview in
	// Japanese and approves with the contract id typed out.
	if msg := login("bob", passwords["bob"]); msg != "" {
		t.Fatalf("bob's login: %q", msg)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	if err := chromedp.Do(ctx, shot("02-overview-ja")); err != nil {
		t.Fatal(err)
	}
	body := text("body")
	for _, want := range []string{"契約終了までの日数", "バックアップ履歴", "T-1", "市役所", "nightly"} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %q:\n%s", want, body)
		}
	}
	if title := text("h1"); title != "概要" {
		t.Errorf("the overview's title is %q, want 概要", title)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/?lang=en"), chromedp.WaitVisible(chromedp.ID("days-left")), shot("03-overview-en")); err != nil {
		t.Fatal(err)
	}
	if body := text("body"); !strings.Contains(body, "Days to contract end") {
		t.Errorf("?lang=en does not show English:\n%s", body)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/erase?lang=ja"), chromedp.WaitVisible(chromedp.ID("approve-"+planID)), shot("04-erase-plan"),
		chromedp.SendKeys(chromedp.ID("confirm-"+planID), "T-1"),
		chromedp.SendKeys(chromedp.ID("waiver-"+planID), "the city keeps its own copy"),
		chromedp.Submit(chromedp.ID("confirm-"+planID)), chromedp.WaitVisible(chromedp.CSS("#notice, #error")), shot("05-approved")); err != nil {
		t.Fatalf("approve in the console: %v\n%s", err, d.out.String())
	}
	if notice, status := text("main > p"), text("#plan-"+planID+" .status"); !strings.Contains(notice, "承認しました") || status != "承認済み" {
		t.Fatalf("after approval: the page says %q, status %q", notice, status)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/reports"), chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login"))); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if code, out, _ := stewardRun(t, dir, "", "erase", "list"); code != 0 || !strings.Contains(out, "approved") || !strings.Contains(out, "bob") {
		t.Errorf("erase list after the console's approval:\n%s", out)
	}

	// The audit log holds each login, lockout, view and action.
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var got []string
	if err := a.Audit.Scan(context.Background(), func(r audit.Record) error {
		got = append(got, r.Actor+" "+r.Action+" "+r.Target+" "+r.Result)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"user:carol auth.login user:carol failed",
		"system auth.lockout user:carol ok",
		"user:carol auth.login user:carol denied",
		"console:anonymous console.login user:carol denied",
		"user:bob console.login user:bob ok",
		"user:bob console.view overview ok",
		"user:bob console.view erase ok",
		"user:bob console.view reports ok",
		"user:alice erase.plan",
		"user:bob erase.approve plan:" + planID + " ok",
		"user:bob console.action plan:" + planID + " ok",
		"user:bob console.logout user:bob ok",
	} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(" "+s+" ", " "+want+" ") }) {
			t.Errorf("the audit log lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("audit log:\n%s", strings.Join(got, "\n"))
	}
	for _, name := range []string{"01-locked-out", "02-overview-ja", "03-overview-en", "04-erase-plan", "05-approved"} {
		if st, err := os.Stat(filepath.Join(shots, name+".png")); err != nil || st.Size() < 1000 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	t.Logf("screenshots in %s", shots)
}
