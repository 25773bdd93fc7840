package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/matroska-go/matroska/internal/workload"
)

// Options configure RunAll.
type Options struct {
	Redis     string             // address or redis:// URL; "" starts a private redis-server
	Namespace string             // prefix of every key written; "" picks one from the time
	Out       string             // directory for results.md, results.json and the plots
	Config    workload.Config    // sizes and workloads (WCDC among them); the zero value is a full run
	CDC       CDCConfig          // sizes of the cdc workload; zero fields take defaults
	Adapters  []workload.Adapter // nil: Adapters()
	Progress  *workload.Progress // nil: no progress display
}

// RunAll runs every workload against every adapter and writes results.md,
// results.json and the PNG plots into o.Out. It returns the results and the
// names of the files written.
//
// The cdc workload (WCDC) runs after the harness's, in this module: its
// figures are Results.Extensions[WCDC], a *CDCResults. A full run includes
// it; without a PostgreSQL to start it is reported as skipped, with the
// reason, and the run goes on.
func RunAll(ctx context.Context, o Options) (*workload.Results, []string, error) {
	opts, where, stop, err := workload.Server(o.Redis)
	if err != nil {
		return nil, nil, err
	}
	defer stop()
	if o.Namespace == "" {
		o.Namespace = fmt.Sprintf("matroska-bench-%d", time.Now().UnixNano())
	}
	if o.Adapters == nil {
		o.Adapters = Adapters()
	}
	cfg, cdc := splitWorkloads(o.Config)
	res, err := workload.Run(ctx, cfg, opts, o.Namespace, o.Adapters, o.Progress)
	if err != nil {
		return res, nil, err
	}
	if cdc {
		r, err := runCDC(ctx, o.CDC.withDefaults(cfg.Quick), opts, o.Namespace+"-cdc", o.Progress)
		if err != nil {
			if ctx.Err() != nil {
				return res, nil, ctx.Err()
			}
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", WCDC, err))
		}
		res.Extensions = map[string]workload.Extension{WCDC: r}
		res.Elapsed = time.Since(res.Started)
	}
	res.Redis = where
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return res, nil, err
	}
	var md strings.Builder
	if err := res.WriteMarkdown(&md); err != nil {
		return res, nil, err
	}
	files := []string{"results.md", "results.json"}
	var plots strings.Builder
	pngs, err := Plots(res, o.Out)
	if err != nil {
		return res, nil, err
	}
	if len(pngs) > 0 {
		plots.WriteString("## Plots\n\n")
		for _, p := range pngs {
			fmt.Fprintf(&plots, "![%s](%s)\n\n", strings.TrimSuffix(p, ".png"), p)
		}
	}
	if err := os.WriteFile(filepath.Join(o.Out, "results.md"), []byte(md.String()+plots.String()), 0o644); err != nil {
		return res, nil, err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return res, nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Out, "results.json"), js, 0o644); err != nil {
		return res, nil, err
	}
	return res, append(files, pngs...), nil
}

// splitWorkloads takes the cdc workload out of cfg's list, which the
// harness would refuse, and says whether it was asked for (or the list was
// empty: a full run).
func splitWorkloads(cfg workload.Config) (workload.Config, bool) {
	if cfg.Workloads == nil {
		return cfg, true
	}
	cdc := slices.Contains(cfg.Workloads, WCDC)
	cfg.Workloads = slices.DeleteFunc(slices.Clone(cfg.Workloads), func(w string) bool { return w == WCDC })
	return cfg, cdc
}
