package main

import (
	"fmt"
	"image/color"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// refLine is a horizontal target line on the latency panel.
type refLine struct {
	at    time.Duration
	label string
}

// writePlot draws a run as a PNG: latency percentiles per second on a log scale above, offered load,
// throughput, shed and errors per second below, with the phase boundaries marked.
func writePlot(path string, r runResult, title string, refs []refLine) error {
	lat := plot.New()
	lat.Title.Text = title
	lat.Y.Label.Text = "latency from scheduled send (ms)"
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	lat.Add(plotter.NewGrid())
	lat.Legend.Top, lat.Legend.Left = true, true

	series := []struct {
		name  string
		get   func(secondResult) time.Duration
		color color.RGBA
		width vg.Length
	}{
		{"p50", func(s secondResult) time.Duration { return s.P50 }, color.RGBA{0x1f, 0x77, 0xb4, 255}, 1.5},
		{"p99", func(s secondResult) time.Duration { return s.P99 }, color.RGBA{0xff, 0x7f, 0x0e, 255}, 1.5},
		{"p99.9", func(s secondResult) time.Duration { return s.P999 }, color.RGBA{0xd6, 0x27, 0x28, 255}, 1.5},
		{"max", func(s secondResult) time.Duration { return s.Max }, color.RGBA{0x99, 0x99, 0x99, 255}, 0.75},
		{"shed p99", func(s secondResult) time.Duration { return s.ShedP99 }, color.RGBA{0x94, 0x67, 0xbd, 255}, 1},
	}
	for _, sr := range series {
		var xy plotter.XYs
		for _, s := range r.Seconds {
			if v := sr.get(s); v > 0 { // a log scale has no room for seconds without answers
				xy = append(xy, plotter.XY{X: mid(s.At), Y: v.Seconds() * 1000})
			}
		}
		if len(xy) == 0 {
			continue
		}
		if err := addLine(lat, sr.name, xy, sr.color, sr.width, nil); err != nil {
			return err
		}
	}
	end := r.Profile.Duration().Seconds()
	for i, ref := range refs {
		// A target takes the colour of the percentile it bounds: the first p99, the second p99.9.
		y := ref.at.Seconds() * 1000
		xy := plotter.XYs{{X: 0, Y: y}, {X: end, Y: y}}
		c := series[1+min(i, 1)].color
		if err := addLine(lat, ref.label, xy, c, 1, []vg.Length{vg.Points(6), vg.Points(4)}); err != nil {
			return err
		}
	}

	tput := plot.New()
	tput.X.Label.Text = "time (s)"
	tput.Y.Label.Text = "requests per second"
	tput.Y.Min = 0
	tput.Y.Tick.Marker = countTicks{}
	tput.Add(plotter.NewGrid())
	tput.Legend.Top, tput.Legend.Left = true, true
	var peak float64
	counts := []struct {
		name  string
		get   func(secondResult) uint64
		color color.RGBA
		dash  []vg.Length
	}{
		{"offered", func(s secondResult) uint64 { return s.Offered }, color.RGBA{0x55, 0x55, 0x55, 255}, []vg.Length{vg.Points(5), vg.Points(3)}},
		{"answered", func(s secondResult) uint64 { return s.Accepted }, color.RGBA{0x1f, 0x77, 0xb4, 255}, nil},
		{"shed", func(s secondResult) uint64 { return s.Shed }, color.RGBA{0x94, 0x67, 0xbd, 255}, nil},
		{"errors", func(s secondResult) uint64 { return s.Errors + s.Dropped }, color.RGBA{0xd6, 0x27, 0x28, 255}, nil},
	}
	for _, c := range counts {
		var xy plotter.XYs
		var any bool
		for _, s := range r.Seconds {
			v := float64(c.get(s))
			any = any || v > 0
			peak = max(peak, v)
			xy = append(xy, plotter.XY{X: mid(s.At), Y: v})
		}
		if !any || (r.Profile.Closed && c.name == "offered") {
			continue
		}
		if err := addLine(tput, c.name, xy, c.color, 1.5, c.dash); err != nil {
			return err
		}
	}
	// Phase boundaries, so the spike's ramp and hold can be read off both panels' shared time axis.
	for i := 1; i < len(r.Profile.Phases); i++ {
		x := r.Profile.PhaseStart(i).Seconds()
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: peak * 1.05}})
		if err != nil {
			return err
		}
		l.Color = color.RGBA{0xbb, 0xbb, 0xbb, 255}
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		tput.Add(l)
	}
	lat.X.Min, lat.X.Max = 0, max(end, float64(len(r.Seconds)))
	tput.X.Min, tput.X.Max = lat.X.Min, lat.X.Max

	// The server's memory, when known: under overload it must stay flat.
	panels := [][]*plot.Plot{{lat}, {tput}}
	var rss plotter.XYs
	for _, s := range r.Seconds {
		if s.Usage.serverOK && s.Usage.serverRSS > 0 {
			rss = append(rss, plotter.XY{X: mid(s.At), Y: float64(s.Usage.serverRSS) / (1 << 20)})
		}
	}
	height := 7 * vg.Inch
	if len(rss) > 0 {
		mem := plot.New()
		mem.X.Label.Text = "time (s)"
		mem.Y.Label.Text = "server RSS (MiB)"
		mem.Y.Min = 0
		mem.Add(plotter.NewGrid())
		if err := addLine(mem, "server RSS", rss, color.RGBA{0x2c, 0xa0, 0x2c, 255}, 1.5, nil); err != nil {
			return err
		}
		mem.Legend.Top, mem.Legend.Left = true, true
		mem.X.Min, mem.X.Max = lat.X.Min, lat.X.Max
		panels = append(panels, []*plot.Plot{mem})
		height = 9 * vg.Inch
	}

	img := vgimg.NewWith(vgimg.UseWH(10*vg.Inch, height), vgimg.UseDPI(96))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4),
		PadRight: vg.Points(8), PadY: vg.Points(8)}
	canvases := plot.Align(panels, tiles, dc)
	for i, row := range panels {
		row[0].Draw(canvases[i][0])
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func addLine(p *plot.Plot, name string, xy plotter.XYs, c color.Color, width vg.Length, dashes []vg.Length) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.Color, l.Width, l.Dashes = c, width, dashes
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// mid is the middle of the second starting at at, where its point is drawn.
func mid(at time.Duration) float64 { return at.Seconds() + 0.5 }

// countTicks labels a request-rate axis with whole numbers and thousands separators.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = thousands(uint64(max(ts[i].Value, 0)))
		}
	}
	return ts
}
