package bench

import (
	"fmt"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/matroska-go/matroska/internal/workload"
)

// series is one colour of a grouped bar chart: a value per row name.
type series struct {
	label  string
	values []float64
}

// bars saves a horizontal grouped bar chart of the series over names.
func bars(file, title, unit string, names []string, ss []series) error {
	if len(names) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = unit
	p.X.Min = 0
	const barW = 10
	w := vg.Points(barW)
	top := 0.0
	for _, s := range ss {
		for _, v := range s.values {
			top = max(top, v)
		}
	}
	if top > 0 {
		p.X.Max = 1.4 * top // room for the legend at the top right
	}
	for i, s := range ss {
		vals := make(plotter.Values, len(s.values))
		copy(vals, s.values)
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		b.Horizontal = true
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(i)
		b.Offset = vg.Points(float64(barW) * (float64(i) - float64(len(ss)-1)/2))
		p.Add(b)
		if len(ss) > 1 {
			p.Legend.Add(s.label, b)
		}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.NominalY(names...)
	h := vg.Points(float64(len(names)*len(ss)*barW + 120))
	return p.Save(7*vg.Inch, max(h, 2.5*vg.Inch), file)
}

// stacked saves a horizontal stacked bar chart of shares (0..1) over names.
func stacked(file, title string, names []string, ss []series) error {
	if len(names) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "share of reads (%)"
	p.X.Min, p.X.Max = 0, 135
	var below *plotter.BarChart
	for i, s := range ss {
		vals := make(plotter.Values, len(s.values))
		for j, v := range s.values {
			vals[j] = 100 * v
		}
		b, err := plotter.NewBarChart(vals, vg.Points(16))
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		b.Horizontal = true
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(i)
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(s.label, b)
	}
	p.Legend.Top = true
	p.NominalY(names...)
	return p.Save(7*vg.Inch, vg.Points(float64(len(names)*22+140)), file)
}

// Plots writes the PNG charts of res into dir and returns their file names.
func Plots(res *workload.Results, dir string) ([]string, error) {
	var files []string
	save := func(name string, f func(string) error) error {
		path := filepath.Join(dir, name)
		if err := f(path); err != nil {
			return err
		}
		files = append(files, name)
		return nil
	}

	// L1 hit: ns/op, one goroutine and parallel.
	var names []string
	var one, par []float64
	for _, h := range res.Hit {
		if h.Parallel {
			continue
		}
		for _, q := range res.Hit {
			if q.Parallel && q.Adapter == h.Adapter && q.Note == "" && h.Note == "" {
				names = append(names, h.Adapter)
				one = append(one, h.NsPerOp)
				par = append(par, q.NsPerOp)
			}
		}
	}
	if len(names) > 0 {
		if err := save("l1-hit.png", func(p string) error {
			return bars(p, "L1 hit (lower is better)", "ns per read", names,
				[]series{{"1 goroutine", one}, {fmt.Sprintf("%d goroutines", res.Hit[len(res.Hit)-1].Goroutines), par}})
		}); err != nil {
			return files, err
		}
	}

	// L2 hit (back to back and paced) and miss latency.
	names, one, par = nil, nil, nil
	var paced []float64
	for _, l := range res.L2 {
		if !l.Measured {
			continue
		}
		for _, m := range res.Miss {
			if m.Measured && m.Adapter == l.Adapter {
				names = append(names, l.Adapter)
				one = append(one, us(l.Mean))
				par = append(par, us(m.Mean))
				paced = append(paced, 0)
				for _, p := range res.L2Paced {
					if p.Measured && p.Adapter == l.Adapter {
						paced[len(paced)-1] = us(p.Mean)
					}
				}
			}
		}
	}
	if len(names) > 0 {
		if err := save("l2-and-miss.png", func(p string) error {
			return bars(p, "L2 hit (cold L1) and miss+load+put, mean (lower is better)", "µs per read", names,
				[]series{{"L2 hit", one}, {"L2 hit, paced " + res.Config.Pace.String(), paced}, {"miss, load, put", par}})
		}); err != nil {
			return files, err
		}
	}

	// Propagation.
	names, one, par = nil, nil, nil
	for _, r := range res.Propagation {
		if r.Measured && r.Rounds > 0 {
			names = append(names, r.Adapter)
			one = append(one, ms(r.P50))
			par = append(par, ms(r.P99))
		}
	}
	if len(names) > 0 {
		if err := save("propagation.png", func(p string) error {
			return bars(p, fmt.Sprintf("Invalidation to the last of %d nodes (lower is better)", res.Config.Nodes), "ms", names,
				[]series{{"p50", one}, {"p99", par}})
		}); err != nil {
			return files, err
		}
	}

	// Stampede.
	names, one = nil, nil
	for _, r := range res.Stampede {
		if r.Measured {
			names = append(names, r.Adapter)
			one = append(one, float64(r.MaxLoads))
		}
	}
	if len(names) > 0 {
		if err := save("stampede.png", func(p string) error {
			return bars(p, fmt.Sprintf("Stampede, %d nodes x %d goroutines: loader calls (lower is better)", res.Config.Nodes, res.Config.StampedeWaiter),
				"loader calls (most in a round)", names, []series{{"loader calls", one}})
		}); err != nil {
			return files, err
		}
	}

	// Mixed: throughput, tiers.
	names, one = nil, nil
	var l1, l2, loads, stale []float64
	for _, r := range res.Mixed {
		if r.Measured {
			names = append(names, r.Adapter)
			one = append(one, r.OpsPerSec)
			l1, l2, loads = append(l1, r.L1Ratio), append(l2, r.L2Ratio), append(loads, r.LoadRatio)
			stale = append(stale, float64(r.Stale)/max(1, float64(r.Reads))*100)
		}
	}
	if len(names) > 0 {
		if err := save("mixed-throughput.png", func(p string) error {
			return bars(p, fmt.Sprintf("Mixed workload, %d nodes: throughput (higher is better)", res.Config.MixedNodes), "operations per second", names,
				[]series{{"ops/s", one}})
		}); err != nil {
			return files, err
		}
		if err := save("mixed-tiers.png", func(p string) error {
			return stacked(p, "Mixed workload: who answered the reads", names,
				[]series{{"L1", l1}, {"L2 (Redis)", l2}, {"loader", loads}})
		}); err != nil {
			return files, err
		}
		if err := save("mixed-stale.png", func(p string) error {
			return bars(p, "Mixed workload: stale reads (lower is better)", "% of reads", names, []series{{"stale", stale}})
		}); err != nil {
			return files, err
		}
	}

	// Fleet: propagation p99 against the rate achieved, a line per cache
	// and fleet size.
	if len(res.Fleet) > 0 {
		if err := save("fleet-propagation.png", func(p string) error { return fleetPlot(p, res.Fleet) }); err != nil {
			return files, err
		}
	}

	// Cold fleet: L1 hit rate over time.
	if len(res.Cold) > 0 {
		if err := save("cold-l1.png", func(p string) error { return coldPlot(p, res.Cold) }); err != nil {
			return files, err
		}
	}

	// Redis CPU per operation, each path (those over costPlotMax are in the
	// table only: one bar would flatten the others).
	names, one, par = nil, nil, nil
	for _, r := range res.Cost {
		if r.Measured && r.CPUUs <= costPlotMax {
			names = append(names, r.Path)
			one = append(one, r.CPUUs)
			par = append(par, r.CmdUs)
		}
	}
	if len(names) > 0 {
		if err := save("redis-cost.png", func(p string) error {
			return bars(p, fmt.Sprintf("Redis per operation (lower is better; paths over %v µs of CPU: see the table)", costPlotMax), "µs", names,
				[]series{{"Redis CPU (used_cpu)", one}, {"commandstats time", par}})
		}); err != nil {
			return files, err
		}
	}

	// Memory.
	names, one, par = nil, nil, nil
	for _, r := range res.Memory {
		if r.Measured {
			names = append(names, r.Adapter)
			one = append(one, max(r.L1Bytes, 0))
			par = append(par, max(r.RedisBytes, 0))
		}
	}
	if len(names) > 0 {
		if err := save("memory.png", func(p string) error {
			return bars(p, "Memory per cached entry (lower is better; 0: no such tier)", "bytes", names,
				[]series{{"L1 (Go heap)", one}, {"Redis used_memory", par}})
		}); err != nil {
			return files, err
		}
	}
	return files, nil
}

// costPlotMax is the Redis CPU per operation, µs, above which a path of
// the redis-cost workload is left out of its plot.
const costPlotMax = 1000

func us(d interface{ Microseconds() int64 }) float64 { return float64(d.Microseconds()) }

func ms(d interface{ Microseconds() int64 }) float64 { return float64(d.Microseconds()) / 1000 }

// line is one line of a line chart.
type line struct {
	label string
	pts   plotter.XYs
}

// lineOf returns the line of label in *ls, adding it when missing.
func lineOf(ls *[]*line, label string) *line {
	i := slices.IndexFunc(*ls, func(l *line) bool { return l.label == label })
	if i < 0 {
		*ls = append(*ls, &line{label: label})
		i = len(*ls) - 1
	}
	return (*ls)[i]
}

// linesPlot saves a line chart of ls, from y = 0 up, with the legend at
// the top left (else the bottom right, for lines that rise); nothing when
// ls is empty.
func linesPlot(file, title, xLabel, yLabel string, topLeft bool, ls []*line) error {
	if len(ls) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Y.Min = 0
	for i, l := range ls {
		ln, pts, err := plotter.NewLinePoints(l.pts)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		ln.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		pts.Radius = vg.Points(2)
		p.Add(ln, pts)
		p.Legend.Add(l.label, ln, pts)
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = topLeft, topLeft
	return p.Save(7*vg.Inch, 4.5*vg.Inch, file)
}

// fleetPlot saves the fleet workload's propagation p99 against the
// invalidations per second achieved, a line per cache and fleet size.
func fleetPlot(file string, rows []workload.FleetRow) error {
	var ls []*line
	for _, r := range rows {
		if !r.Measured || r.Samples == 0 {
			continue
		}
		l := lineOf(&ls, fmt.Sprintf("%s, %d nodes", r.Adapter, r.Nodes))
		l.pts = append(l.pts, plotter.XY{X: r.Achieved, Y: ms(r.P99)})
	}
	return linesPlot(file, "Fleet: propagation p99 by invalidation rate (lower is better)",
		"invalidations per second achieved", "propagation p99 (ms)", true, ls)
}

// coldPlot saves the cold workload's L1 hit rate over time, a line per
// cache.
func coldPlot(file string, rows []workload.ColdRow) error {
	var ls []*line
	for _, r := range rows {
		if !r.Measured || len(r.Curve) == 0 {
			continue
		}
		l := lineOf(&ls, fmt.Sprintf("%s, %d nodes", r.Adapter, r.Nodes))
		for _, c := range r.Curve {
			l.pts = append(l.pts, plotter.XY{X: c.At.Seconds(), Y: 100 * c.L1})
		}
	}
	return linesPlot(file, "Cold fleet: L1 hit rate from an empty Redis (higher sooner is better)",
		"seconds since the start", "L1 hit rate of the interval (%)", false, ls)
}
