package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// deviceNameKey is the preference that holds the device's name.
const deviceNameKey = "device.name"

// Texts of the settings screen.
const (
	rebuildTitle   = "Rebuild the server from this device?"
	rebuildMessage = "Every form on this device is sent to the server, which keeps whatever it lacks. Use this after the server was rebuilt or restored from a backup. It can take a while; you can keep working meanwhile."
	noCodeText     = "Paste the enrolment code your administrator gave you first."
)

// settingsScreen is the device's settings and, for admins, the tools that act
// on the whole replica: rebuild the server, export everything, verify.
type settingsScreen struct {
	env *env

	// Touched on the UI goroutine only.
	status SyncStatus

	deviceName *widget.Entry

	server    *widget.Label
	code      *widget.Entry
	enrolBtn  *widget.Button
	enrolMsg  *widget.Label
	enrolBusy *widget.ProgressBarInfinite
	syncBox   *fyne.Container

	admin        *fyne.Container
	rebuildBtn   *widget.Button
	rebuildRow   fyne.CanvasObject
	rebuildMsg   *widget.Label
	rebuildBar   *widget.ProgressBar
	rebuilding   bool
	exportBtn    *widget.Button
	exportMsg    *widget.Label
	exportBusy   *widget.ProgressBarInfinite
	exportTicker func()
	verifyBtn    *widget.Button
	verifyMsg    *widget.Label
	verifyDialog dialog.Dialog // the last report shown

	view fyne.CanvasObject
}

func newSettingsScreen(e *env, status SyncStatus) *settingsScreen {
	s := &settingsScreen{env: e, status: status}

	s.deviceName = widget.NewEntry()
	s.deviceName.SetPlaceHolder("e.g. Tablet 7, north depot")
	s.deviceName.SetText(deviceName(e.prefs()))
	s.deviceName.OnChanged = func(name string) {
		if p := e.prefs(); p != nil {
			p.SetString(deviceNameKey, strings.TrimSpace(name))
		}
	}
	device := container.NewVBox(heading("This device"),
		labelled("Device name", touch(s.deviceName)),
		quiet("The server shows this name to your administrator, next to the forms this device sends."))

	s.server = wrapped("")
	s.code = widget.NewMultiLineEntry()
	s.code.SetPlaceHolder("Paste the enrolment code here")
	s.code.Wrapping = fyne.TextWrapBreak
	s.code.SetMinRowsVisible(3)
	s.enrolBtn = widget.NewButtonWithIcon("Enrol this device", theme.LoginIcon(), s.enrol)
	s.enrolBtn.Importance = widget.HighImportance
	s.enrolMsg = wrapped("")
	s.enrolMsg.Hide()
	s.enrolBusy = widget.NewProgressBarInfinite()
	s.enrolBusy.Stop()
	s.enrolBusy.Hide()
	s.syncBox = container.NewVBox(heading("Server"), s.server,
		heading("Enrol"),
		quiet("Your administrator gives you a one-time code. Enrolling links this device to your organisation's server; the forms already on it stay and are sent."),
		s.code, container.NewHBox(touch(s.enrolBtn)), s.enrolBusy, s.enrolMsg)
	if e.d.Sync == nil {
		s.syncBox.Hide()
	}

	s.rebuildBtn = widget.NewButtonWithIcon("Rebuild server from this device", theme.UploadIcon(), s.confirmRebuild)
	s.rebuildBtn.Importance = widget.DangerImportance
	s.rebuildMsg = wrapped("")
	s.rebuildMsg.Hide()
	s.rebuildBar = widget.NewProgressBar()
	s.rebuildBar.Hide()
	s.exportBtn = widget.NewButtonWithIcon("Export all data", theme.DownloadIcon(), s.export)
	s.exportMsg = wrapped("")
	s.exportMsg.Hide()
	s.exportBusy = widget.NewProgressBarInfinite()
	s.exportBusy.Stop()
	s.exportBusy.Hide()
	s.verifyBtn = widget.NewButtonWithIcon("Verify local data", theme.ConfirmIcon(), s.verify)
	s.verifyMsg = wrapped("")
	s.verifyMsg.Hide()
	s.rebuildRow = container.NewHBox(touch(s.rebuildBtn))
	rebuild := container.NewVBox(s.rebuildRow, s.rebuildBar, s.rebuildMsg)
	if e.d.Sync == nil {
		rebuild.Hide()
	}
	s.admin = container.NewVBox(heading("Administration"),
		rebuild,
		quiet("Export writes every form (JSON and one CSV per template), the attachments on this device and the audit trail into one ZIP file."),
		container.NewHBox(touch(s.exportBtn)), s.exportBusy, s.exportMsg,
		quiet("Verify checks the audit trail's chain and the database on this device."),
		container.NewHBox(touch(s.verifyBtn)), s.verifyMsg)

	s.view = container.NewVScroll(container.NewPadded(container.NewVBox(device, widget.NewSeparator(), s.syncBox, widget.NewSeparator(), s.admin)))
	s.showStatus(status)
	return s
}

// deviceName is the device's name from the preferences, or the computer's
// name.
func deviceName(p fyne.Preferences) string {
	if p != nil {
		if n := p.String(deviceNameKey); n != "" {
			return n
		}
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return ""
}

// showStatus shows the server, its health, the user and role, the rebuild's
// progress, and what an admin may do.
func (s *settingsScreen) showStatus(st SyncStatus) {
	s.status = st
	enrolled := st.State != SyncNotEnrolled && st.Server != ""
	if enrolled {
		health := st.ServerHealth
		if health == "" {
			health = "not known yet"
		}
		role := "user"
		if st.Admin {
			role = "administrator"
		}
		lines := []string{
			"Server: " + st.Server,
			"Health: " + health,
			fmt.Sprintf("Signed in as %s (%s)", orNone(st.User), role),
			"Sync: " + st.State,
		}
		if st.Message != "" {
			lines = append(lines, st.Message)
		}
		s.server.SetText(strings.Join(lines, "\n"))
	} else {
		s.server.SetText("Not enrolled: the forms stay on this device until it is enrolled with your organisation's server.")
	}
	// Rebuilding needs an admin's enrolment; export and verify read only this
	// device, so they are open to an admin, and on a device no organisation
	// holds yet, to whoever holds it.
	if st.Admin || !enrolled {
		s.admin.Show()
	} else {
		s.admin.Hide()
	}
	setVisible(st.Admin && enrolled, s.rebuildBtn, s.rebuildRow)
	if st.State == SyncRebuilding || st.Total > 0 && s.rebuilding {
		s.rebuildBar.Max = float64(max(st.Total, 1))
		s.rebuildBar.SetValue(float64(min(st.ProgressDone, st.Total)))
		s.rebuildBar.Show()
	} else if !s.rebuilding {
		s.rebuildBar.Hide()
	}
	s.view.Refresh()
}

func orNone(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// enrol redeems the pasted code.
func (s *settingsScreen) enrol() {
	code := strings.Join(strings.Fields(s.code.Text), "")
	if code == "" {
		setMessage(s.enrolMsg, noCodeText, widget.WarningImportance)
		return
	}
	name := strings.TrimSpace(s.deviceName.Text)
	s.enrolBtn.Disable()
	s.enrolBusy.Show()
	s.enrolBusy.Start()
	setMessage(s.enrolMsg, "Enrolling…", widget.MediumImportance)
	s.env.ui.background(func(ctx context.Context) func() {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		err := s.env.d.Sync.Enroll(ctx, code, name)
		return func() {
			s.enrolBtn.Enable()
			s.enrolBusy.Stop()
			s.enrolBusy.Hide()
			if err != nil {
				setMessage(s.enrolMsg, "This device was not enrolled: "+errText(err)+". Check the code, or ask for a new one.", widget.DangerImportance)
				return
			}
			s.code.SetText("")
			setMessage(s.enrolMsg, "Enrolled. This device now sends its forms to the server and receives your organisation's.", widget.SuccessImportance)
		}
	})
}

func (s *settingsScreen) confirmRebuild() {
	d := dialog.NewConfirm(rebuildTitle, rebuildMessage, func(ok bool) {
		if ok {
			s.rebuild()
		}
	}, s.env.w)
	d.SetConfirmText("Rebuild")
	d.SetConfirmImportance(widget.DangerImportance)
	d.Show()
}

// rebuild pushes the whole replica to the server; its progress comes through
// the sync status.
func (s *settingsScreen) rebuild() {
	s.rebuilding = true
	s.rebuildBtn.Disable()
	s.rebuildBar.Max, s.rebuildBar.Value = 1, 0
	s.rebuildBar.Show()
	s.rebuildBar.Refresh()
	setMessage(s.rebuildMsg, "Rebuilding the server…", widget.MediumImportance)
	s.env.ui.background(func(ctx context.Context) func() {
		err := s.env.d.Sync.Reseed(ctx)
		return func() {
			s.rebuilding = false
			s.rebuildBtn.Enable()
			s.rebuildBar.Hide()
			if err != nil {
				setMessage(s.rebuildMsg, "The rebuild stopped: "+errText(err)+". Nothing on this device changed; start it again when the server is reachable.", widget.DangerImportance)
				return
			}
			setMessage(s.rebuildMsg, "The server holds everything this device holds.", widget.SuccessImportance)
		}
	})
}

// exportName is the file name the export dialog suggests.
func (s *settingsScreen) exportName() string {
	return "fieldforms-export-" + s.env.ui.now().Format("2006-01-02") + ".zip"
}

// export asks where to write the ZIP, then writes it in the background,
// showing how much has been written.
func (s *settingsScreen) export() {
	s.env.saveFile(s.exportName(), func(w fyne.URIWriteCloser) {
		s.exportBtn.Disable()
		s.exportBusy.Show()
		s.exportBusy.Start()
		cw := &countingWriter{w: w}
		setMessage(s.exportMsg, "Exporting…", widget.MediumImportance)
		s.exportTicker = s.env.ui.every(250*time.Millisecond, func() {
			setMessage(s.exportMsg, "Exporting… "+byteSize(cw.n.Load())+" written", widget.MediumImportance)
		})
		s.env.ui.background(func(ctx context.Context) func() {
			err := s.env.d.Replica.Export(ctx, cw)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			return func() {
				s.exportTicker()
				s.exportBtn.Enable()
				s.exportBusy.Stop()
				s.exportBusy.Hide()
				if err != nil {
					setMessage(s.exportMsg, "The export failed: "+errText(err)+". The file may be incomplete; export again.", widget.DangerImportance)
					return
				}
				setMessage(s.exportMsg, fmt.Sprintf("Exported %s to %s.", byteSize(cw.n.Load()), w.URI().Name()), widget.SuccessImportance)
			}
		})
	})
}

// countingWriter counts what passes through it, for the export's progress.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// verify checks the local data and shows the report.
func (s *settingsScreen) verify() {
	s.verifyBtn.Disable()
	setMessage(s.verifyMsg, "Checking…", widget.MediumImportance)
	s.env.ui.background(func(ctx context.Context) func() {
		rep, err := s.env.d.Replica.Verify(ctx)
		return func() {
			s.verifyBtn.Enable()
			setMessage(s.verifyMsg, "", widget.MediumImportance)
			title, text := verifyReportText(rep, err)
			s.verifyDialog = dialog.NewCustom(title, "Close", container.NewVScroll(wrapped(text)), s.env.w)
			s.verifyDialog.Resize(fyne.NewSize(560, 360))
			s.verifyDialog.Show()
		}
	})
}

// verifyReportText puts a verification's result in words.
func verifyReportText(rep VerifyReport, err error) (title, text string) {
	checked := fmt.Sprintf("Checked %s forms and %s audit entries.", thousands(rep.Records), thousands(rep.AuditEntries))
	switch {
	case err != nil:
		return "Local data could not be checked", "The check could not run: " + errText(err)
	case len(rep.Problems) == 0:
		return "Local data is sound", checked + " No problems found."
	}
	lines := []string{checked, fmt.Sprintf("%d problem(s) found:", len(rep.Problems))}
	for _, p := range rep.Problems {
		lines = append(lines, "• "+p)
	}
	lines = append(lines, "", "Keep this device as it is and tell your administrator: the server and the other devices hold copies.")
	return "Local data has problems", strings.Join(lines, "\n")
}
