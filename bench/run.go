package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matroska-go/matroska/internal/workload"
)

// Options configure RunAll.
type Options struct {
	Redis     string             // address or redis:// URL; "" starts a private redis-server
	Namespace string             // prefix of every key written; "" picks one from the time
	Out       string             // directory for results.md, results.json and the plots
	Config    workload.Config    // sizes; the zero value is a full run
	Adapters  []workload.Adapter // nil: Adapters()
	Progress  *workload.Progress // nil: no progress display
}

// RunAll runs every workload against every adapter and writes results.md,
// results.json and the PNG plots into o.Out. It returns the results and the
// names of the files written.
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
	res, err := workload.Run(ctx, o.Config, opts, o.Namespace, o.Adapters, o.Progress)
	if err != nil {
		return res, nil, err
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
