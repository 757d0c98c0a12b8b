@echo off
rem Kakehashi encoder: per-user install from this offline bundle (no administrator rights).
rem The file is CP932 with CRLF line ends (the build writes it so); chcp 932 makes the
rem Japanese messages show the same whatever code page the window was left in.
setlocal EnableExtensions
chcp 932 >nul
cd /d "%~dp0"
set "BUNDLE=%~dp0"
set "TARGET=%LOCALAPPDATA%\Kakehashi"
echo ============================================================
echo  かけはし 符号化ツール @VERSION@ のインストール
echo  インストール先: %TARGET%
echo  管理者権限は不要です。ネットワークにも接続しません。
echo ============================================================
echo.

echo [1/5] 同梱ファイルの検査（SHA256SUMS）
powershell -NoProfile -ExecutionPolicy Bypass -File "%BUNDLE%tools\verify.ps1" "%BUNDLE%."
if errorlevel 1 goto :verify_failed
goto :find_python
:verify_failed
echo.
echo  同梱ファイルの検査に失敗しました。ファイルが壊れているか、書き換えられています。
echo  受け取った zip のチェックサムを確認し、配布元に連絡してください。
goto :fail

:find_python
echo [2/5] Python 3.11～3.13 を探しています
set "PY="
for %%V in (3.13 3.12 3.11) do call :try_py %%V
if not defined PY call :try_python
if not defined PY goto :no_python
for /f "usebackq delims=" %%T in (`%PY% -c "import sys;print('py'+str(sys.version_info[0])+str(sys.version_info[1]))"`) do set "TAG=%%T"
if not exist "%BUNDLE%requirements\%TAG%.txt" goto :no_python
echo  使用する Python: %PY%  （%TAG%）

echo [3/5] 専用の仮想環境を作成
if exist "%TARGET%\venv" rmdir /s /q "%TARGET%\venv"
if not exist "%TARGET%" mkdir "%TARGET%"
%PY% -m venv "%TARGET%\venv"
if errorlevel 1 goto :fail

echo [4/5] 同梱のパッケージをインストール（ハッシュを検査します）
rem --no-deps: the wheel set was resolved when the bundle was built (with the project's
rem overrides of clkhash's stale pins), so pip installs exactly these files, each checked
rem against its hash. pip's output goes to install-log.txt and is shown on failure.
"%TARGET%\venv\Scripts\python.exe" -m pip install --disable-pip-version-check --no-index --no-deps --require-hashes --find-links "%BUNDLE%wheels" -r "%BUNDLE%requirements\%TAG%.txt" > "%TARGET%\install-log.txt" 2>&1
if errorlevel 1 goto :pip_failed

echo [5/5] 起動用ファイルとショートカットを作成
copy /y "%BUNDLE%符号化.bat" "%TARGET%\" >nul
copy /y "%BUNDLE%kakehashi-cmd.bat" "%TARGET%\" >nul
copy /y "%BUNDLE%uninstall.bat" "%TARGET%\" >nul
copy /y "%BUNDLE%README.txt" "%TARGET%\" >nul
copy /y "%BUNDLE%VERSION.txt" "%TARGET%\" >nul
powershell -NoProfile -ExecutionPolicy Bypass -File "%BUNDLE%tools\shortcuts.ps1" create "%TARGET%"
if errorlevel 1 echo  （デスクトップのショートカットは作れませんでした。%TARGET% の 符号化.bat を直接使えます）

echo.
"%TARGET%\venv\Scripts\kakehashi.exe" --version
if errorlevel 1 goto :fail
echo.
echo インストールが完了しました。
echo  ・デスクトップの「Kakehashi-encode」に出力ファイルをドラッグ＆ドロップすると符号化します。
echo  ・共有秘密ファイル（.secret）は、出力ファイルと同じフォルダに置いてください。
echo  ・コマンドで使うときはデスクトップの「Kakehashi-command」を開き、kakehashi と入力します。
goto :end

:try_py
if defined PY goto :eof
py -%1 -c "import sys" >nul 2>&1
if not errorlevel 1 set "PY=py -%1"
goto :eof

:try_python
python -c "import sys;sys.exit(0 if (3,11)<=sys.version_info[:2]<=(3,13) else 1)" >nul 2>&1
if not errorlevel 1 set "PY=python"
goto :eof

:pip_failed
type "%TARGET%\install-log.txt"
goto :fail

:no_python
echo.
echo  Python 3.11、3.12、3.13 のどれも見つかりませんでした。
echo  情報システム担当に、python.org の Windows 用インストーラーで
echo  「Install for me only（自分だけ）」を選んで Python 3.12 を入れてもらってから、
echo  もう一度 install.bat を実行してください（管理者権限は不要です）。
goto :fail

:fail
echo.
echo インストールできませんでした。上の表示を情報システム担当に伝えてください。
echo.
pause
exit /b 1

:end
echo.
pause
exit /b 0
