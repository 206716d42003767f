; Inno Setup 6 script: HomeHub-Setup-<version>.exe from the PyInstaller folder dist\hub-app.
;   iscc /DAppVersion=0.1.0 packaging\windows\installer.iss
; NOT built or tested in this project's CI (Linux only): see docs/packaging.md.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Home Hub"
#define AppExe "hub-app.exe"
#define Root "..\.."

[Setup]
; a fixed AppId: upgrades replace the installed version instead of installing beside it
AppId={{6F1C2B9E-5A43-4C1B-9C8E-2D7A4E1B3F60}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Home Hub developers
AppPublisherURL=https://homehub.io/
DefaultDirName={autopf}\Home Hub
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; per-user install without admin rights unless the user chooses all users
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#Root}\dist
OutputBaseFilename=HomeHub-Setup-{#AppVersion}
SetupIconFile={#Root}\packaging\icons\io.homehub.HomeHub.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#Root}\dist\hub-app\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autoprograms}\{#AppName} (demo)"; Filename: "{app}\{#AppExe}"; Parameters: "--demo"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
; mDNS and the embedded broker need inbound UDP 5353 / TCP 1883 on private networks
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall add rule name=""Home Hub"" dir=in action=allow program=""{app}\{#AppExe}"" enable=yes profile=private"; Flags: runhidden; Check: IsAdminInstallMode
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall delete rule name=""Home Hub"""; Flags: runhidden; Check: IsAdminInstallMode; RunOnceId: "DelFirewallRule"
