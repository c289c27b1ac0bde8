package erase

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"steward/certs"
	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/repo"
	"steward/internal/state"
)

// PlanSchema names the format of a stored plan.
const PlanSchema = "steward.erase-plan/v1"

// Plan statuses.
const (
	StatusPlanned   = "planned"   // inventoried, waiting for a second person
	StatusApproved  = "approved"  // approved; execute waits for the cooling-off
	StatusCancelled = "cancelled" // stopped; never executes
	StatusExecuting = "executing" // execution started (contract frozen)
	StatusDone      = "done"      // executed, verified, certificate issued
)

// Plan is an erase plan: the inventory of everything that holds contract
// data or grants access to it, counted when the plan was made, and what
// happened to the plan since. Its Hash covers the inventory only, so an
// approval is of exactly what was counted.
type Plan struct {
	Schema   string   `json:"schema"`
	ID       string   `json:"id"`
	Created  string   `json:"created"`
	Planner  string   `json:"planner"`
	Contract Contract `json:"contract"`
	// Targets are what execute erases, in the order it erases them.
	Targets []Target `json:"targets"`
	// Found are things that look related but are not in the config
	// (found, not planned): an operator decides about them by hand.
	Found []Found `json:"found_not_planned"`
	// Handover is the last hand-over export seen when planning, or empty.
	Handover string `json:"handover"`
	// Hash is the SHA-256 of the inventory (Contract, Targets, Found,
	// Handover) as JSON.
	Hash string `json:"hash"`

	Status    string     `json:"status"`
	Approval  *Approval  `json:"approval,omitempty"`
	Cancelled *Cancelled `json:"cancelled,omitempty"`
}

// Contract is the contract the plan erases.
type Contract struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	EndDate  string `json:"end_date"`
}

// Target is one thing to erase, as counted when planning.
type Target struct {
	// ID is stable across plans: "<kind>:<name>".
	ID       string           `json:"id"`
	Kind     certs.TargetKind `json:"kind"`
	Name     string           `json:"name"`
	Location string           `json:"location"`
	Region   string           `json:"region,omitempty"`
	// Role says why it is a target: source, repository, replica, cache…
	Role   string       `json:"role"`
	Before certs.Counts `json:"before"`
	// Absent is true when the target was not found at all (already
	// erased, or never created): execute records it as already absent.
	Absent bool `json:"absent,omitempty"`
	// Access says whether the credential execute will use may delete it:
	// "ok: …", "denied: …" or "unknown: …".
	Access string `json:"access"`
	// Error is why it could not be counted (the plan is then not
	// approvable: fix and plan again).
	Error string `json:"error,omitempty"`
}

// Found is something that looks like contract data but is not planned.
type Found struct {
	Kind     certs.TargetKind `json:"kind"`
	Name     string           `json:"name"`
	Location string           `json:"location"`
	Why      string           `json:"why"`
}

// Approval is the second person's approval.
type Approval struct {
	By   string `json:"by"`
	Time string `json:"time"`
	// CoolingOffUntil is the earliest time execute may start.
	CoolingOffUntil string `json:"cooling_off_until"`
	// HandoverWaived is the approver's reason, typed out, for erasing
	// without a hand-over export (req 4); empty when there was one.
	HandoverWaived string `json:"handover_waived,omitempty"`
}

// Cancelled records who stopped the plan.
type Cancelled struct {
	By     string `json:"by"`
	Time   string `json:"time"`
	Reason string `json:"reason,omitempty"`
}

// Store is the part of the catalog erase uses.
type Store interface {
	catalog.EraseStore
	catalog.KV
	catalog.DrillStore
}

// Deps is what an Eraser needs; the app builds it.
type Deps struct {
	Config *config.Config
	Store  Store
	// Manifests counts the catalog's manifest rows (contract data), and
	// PurgeManifests deletes them all, returning how many.
	Manifests      func(ctx context.Context) (int64, error)
	PurgeManifests func(ctx context.Context) (int64, error)
	// Sign renders, signs and files a PDF (the deletion certificate).
	Sign  func(ctx context.Context, r SignRequest) (path, sha256 string, err error)
	Repos *repo.Opener
	Audit audit.Appender
	Clock *clock.Zoned
	Log   *slog.Logger
	// RecoveryKits, when set, lists the contract's recovery kits (nil
	// when none was made): the certificate names their escrow keys, which
	// crypto-erase deleted with every key file, and asks each recipient to
	// destroy their copy.
	RecoveryKits func(ctx context.Context) ([]certs.RecoveryKit, error)
	// StepDone, when set, is told when each execution step ends (result
	// ResultDone or ResultFailed, with the step's error): the operator's
	// alerts (req 12). It must not block for long.
	StepDone func(ctx context.Context, planID, step, result string, err error)
}

// Eraser plans, approves and executes contract-end erasure.
type Eraser struct {
	cfg       *config.Config
	store     Store
	manifests func(ctx context.Context) (int64, error)
	// purgeManifests and sign: see Deps.
	purgeManifests func(ctx context.Context) (int64, error)
	sign           func(ctx context.Context, r SignRequest) (string, string, error)
	recoveryKits   func(ctx context.Context) ([]certs.RecoveryKit, error)
	stepDone       func(ctx context.Context, planID, step, result string, err error)
	repos          *repo.Opener
	rec            *audit.Recorder
	clock          *clock.Zoned
	log            *slog.Logger
	dir            state.Dir
}

// New returns an Eraser over d.
func New(d Deps) *Eraser {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Eraser{cfg: d.Config, store: d.Store, manifests: d.Manifests, purgeManifests: d.PurgeManifests, sign: d.Sign, recoveryKits: d.RecoveryKits, stepDone: d.StepDone, repos: d.Repos, rec: audit.NewRecorder(d.Audit, log),
		clock: d.Clock, log: log, dir: state.Dir(d.Config.StateDir)}
}

func (e *Eraser) now() string { return e.clock.Format(e.clock.Now()) }

// ErrNoPlan means no plan has the given id.
var ErrNoPlan = errors.New("no such erase plan")

// MakePlan inventories everything and stores a new plan made by planner.
// It changes nothing else.
func (e *Eraser) MakePlan(ctx context.Context, planner string) (*Plan, error) {
	if planner == "" {
		return nil, errs.Usage("--as: say who makes the plan (the approver must be someone else)")
	}
	p := &Plan{Schema: PlanSchema, ID: newPlanID(e.clock.Now()), Created: e.now(), Planner: planner,
		Contract: Contract{ID: e.cfg.Contract.ID, Customer: e.cfg.Contract.Customer, EndDate: e.cfg.Contract.EndDate.String()},
		Status:   StatusPlanned}
	inv, err := e.inventory(ctx)
	if err != nil {
		return nil, err
	}
	p.Targets, p.Found = inv.targets, inv.found
	p.Handover = e.lastHandover(ctx)
	p.Hash = p.inventoryHash()
	if err := e.save(ctx, p); err != nil {
		return nil, err
	}
	e.rec.Record(ctx, "erase.plan", "plan:"+p.ID, audit.ResultOK, map[string]string{"planner": planner, "hash": p.Hash,
		"targets": fmt.Sprint(len(p.Targets)), "found_not_planned": fmt.Sprint(len(p.Found)), "not_counted": fmt.Sprint(len(p.Uncounted()))})
	return p, nil
}

// Uncounted lists the targets that could not be counted.
func (p *Plan) Uncounted() []Target {
	var out []Target
	for _, t := range p.Targets {
		if t.Error != "" {
			out = append(out, t)
		}
	}
	return out
}

// inventoryHash is the SHA-256 of what the plan counted.
func (p *Plan) inventoryHash() string {
	b, _ := json.Marshal(struct {
		Contract Contract `json:"contract"`
		Targets  []Target `json:"targets"`
		Found    []Found  `json:"found_not_planned"`
		Handover string   `json:"handover"`
	}{p.Contract, p.Targets, p.Found, p.Handover})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// newPlanID names a plan by its time in the contract's zone (t is in it).
func newPlanID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return "EP-" + t.Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

func (e *Eraser) save(ctx context.Context, p *Plan) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return e.store.PutErasePlan(ctx, catalog.ErasePlanRow{ID: p.ID, Created: p.Created, Status: p.Status, Record: b})
}

// Plan returns a stored plan.
func (e *Eraser) Plan(ctx context.Context, id string) (*Plan, error) {
	row, err := e.store.ErasePlan(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q (list them with `steward erase list`)", ErrNoPlan, id)
	}
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := json.Unmarshal(row.Record, &p); err != nil {
		return nil, fmt.Errorf("erase plan %s in the catalog: %w", id, err)
	}
	if p.Hash != p.inventoryHash() {
		return nil, fmt.Errorf("erase plan %s in the catalog: its inventory does not match its hash: the catalog was changed; make a new plan", id)
	}
	return &p, nil
}

// Plans returns every plan, newest first.
func (e *Eraser) Plans(ctx context.Context) ([]*Plan, error) {
	rows, err := e.store.ErasePlans(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Plan, 0, len(rows))
	for _, r := range rows {
		var p Plan
		if err := json.Unmarshal(r.Record, &p); err != nil {
			return nil, fmt.Errorf("erase plan %s in the catalog: %w", r.ID, err)
		}
		out = append(out, &p)
	}
	return out, nil
}

// HandoverKey is the catalog KV key under which the hand-over export
// records its last export (JSON: its time and manifest SHA-256).
const HandoverKey = "handover.last"

func (e *Eraser) lastHandover(ctx context.Context) string {
	rec, err := LastHandover(ctx, e.store)
	if err != nil {
		return ""
	}
	return rec.String()
}
