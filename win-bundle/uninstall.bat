@echo off
rem Removes the per-user install. Exports, keys files, reports and .secret files are kept.
setlocal EnableExtensions
chcp 932 >nul
set "TARGET=%LOCALAPPDATA%\Kakehashi"
echo かけはし 符号化ツールをアンインストールします（%TARGET%）。
echo 出力ファイル・キーファイル・検証結果の CSV・共有秘密ファイルは削除しません。
choice /c YN /m "続けますか"
if errorlevel 2 goto :end
powershell -NoProfile -ExecutionPolicy Bypass -Command "$d=[Environment]::GetFolderPath('Desktop'); Remove-Item -LiteralPath (Join-Path $d 'Kakehashi-encode.lnk'),(Join-Path $d 'Kakehashi-command.lnk') -ErrorAction SilentlyContinue" >nul 2>&1
if exist "%TARGET%\venv" rmdir /s /q "%TARGET%\venv"
for %%F in (kakehashi-cmd.bat README.txt VERSION.txt install-log.txt) do if exist "%TARGET%\%%F" del /q "%TARGET%\%%F"
if exist "%TARGET%\符号化.bat" del /q "%TARGET%\符号化.bat"
echo アンインストールしました。
if exist "%TARGET%\*.secret" echo %TARGET% に共有秘密ファイルが残っています。不要なら課の手順に従って削除してください。
rem This file deletes itself last; cmd prints an error when its batch file disappears, so
rem the deletion is started after this window's pause.
pause
(goto) 2>nul & del /q "%TARGET%\uninstall.bat" & rmdir "%TARGET%" 2>nul
:end
