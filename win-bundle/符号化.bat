@echo off
rem Drag and drop a department export onto this file (or its desktop shortcut) to encode it.
rem CP932 with CRLF line ends; chcp 932 keeps the Japanese messages readable.
setlocal EnableExtensions
chcp 932 >nul
set "KAKEHASHI_LANG=ja"
set "HERE=%~dp0"
set "KKH=%HERE%venv\Scripts\kakehashi.exe"
if not exist "%KKH%" set "KKH=%LOCALAPPDATA%\Kakehashi\venv\Scripts\kakehashi.exe"
if not exist "%KKH%" goto :not_installed
if "%~1"=="" goto :usage

echo ============================================================
echo  かけはし 符号化
echo  出力ファイル: %~nx1
echo ============================================================
call :find_secret "%~dp1"
if not defined SECRET call :find_secret "%HERE%"
if "%SECRETS%"=="many" goto :many_secrets
if not defined SECRET goto :no_secret

echo.
echo バージョン:
"%KKH%" --version
echo 共有秘密ファイル: %SECRET%
echo 共有秘密の指紋:
"%KKH%" secret fingerprint "%SECRET%"
echo.
echo 符号化しています（件数が多いと時間がかかります。この画面を閉じないでください）
"%KKH%" encode "%~1" --secret "%SECRET%"
if errorlevel 1 goto :failed
echo.
echo 完了しました。サーバに送るのは .kkh のファイルだけです。
echo キーファイル（.keys.csv）と検証結果の CSVは課の外に出さないでください。
goto :end

:find_secret
set "SECRET="
set "SECRETS="
for %%S in ("%~1*.secret") do call :one_secret "%%~fS"
goto :eof

:one_secret
if defined SECRET set "SECRETS=many"
if not defined SECRET set "SECRET=%~1"
goto :eof

:usage
echo 出力ファイル（CSV または Excel）を、この「符号化」のアイコンの上に
echo ドラッグ＆ドロップしてください。
goto :end

:no_secret
echo.
echo 共有秘密ファイル（拡張子 .secret）が見つかりません。
echo 出力ファイルと同じフォルダか、%HERE% に置いてください。
goto :end

:many_secrets
echo.
echo 共有秘密ファイル（.secret）が同じフォルダに 2 つ以上あります。
echo 使う 1 つだけを残してください。
goto :end

:not_installed
echo かけはし 符号化ツールがインストールされていません。先に install.bat を実行してください。
goto :end

:failed
echo.
echo 符号化できませんでした。符号化ファイルとキーファイルは作られていません。
echo 上の error: の行の意味と対処は、手引きの「6. エラーメッセージと対処」を見てください。
goto :end

:end
echo.
pause
